import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import nodemailer from 'nodemailer';
import { afterAll, describe, expect, it } from 'vitest';
import { stackEnv, testRedis } from '../support/stack.ts';

const env = stackEnv();
const post = (path: string, body: unknown) =>
  fetch(`${env.REGISTRY_URL}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('registry simulator', () => {
  afterAll(async () => {
    await fetch(`${env.REGISTRY_URL}/admin/outage`, { method: 'DELETE' });
  });

  it('answers person contact point lookups from its seed, in the Profile shape', async () => {
    const res = await post('/profile/api/v1/users/contactpoint/lookup', {
      nationalIdentityNumbers: ['01017012345', '03037012345', '99999999999'],
      useStaleContactInfo: false,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      contactPointsList: [
        {
          userId: 1001,
          nationalIdentityNumber: '01017012345',
          isReserved: false,
          mobileNumber: '+4799999999',
          email: 'ola.nordmann@example.com',
        },
        {
          userId: 1003,
          nationalIdentityNumber: '03037012345',
          isReserved: true,
          mobileNumber: '+4741234567',
          email: 'per@example.com',
        },
      ],
    });
  });

  it('answers organisation addresses, user-registered contacts, rights and names', async () => {
    const orgs = await post('/profile/api/v1/organizations/notificationaddresses/lookup', {
      organizationNumbers: ['910000001'],
    });
    expect(await orgs.json()).toMatchObject({
      contactPointsList: [
        {
          organizationNumber: '910000001',
          emailList: ['post@testbedrift.example', 'varsel@testbedrift.example'],
          mobileNumberList: ['+4740000001'],
        },
      ],
    });
    const users = (await post('/profile/api/v1/units/contactpoint/lookup', {
      organizationNumbers: ['910000001'],
      resourceId: 'app_ttd_demo',
    }).then((r) => r.json())) as { contactPointsList: { userContactPoints: { userId: number }[] }[] };
    const ids = users.contactPointsList[0]!.userContactPoints.map((u) => u.userId);
    expect(ids).toEqual([2001, 2002]);
    const rights = await post('/authorization/api/v1/resource-rights/decide', {
      organizationNumber: '910000001',
      resourceId: 'urn:altinn:resource:app_ttd_demo',
      action: 'read',
      userIds: ids,
    });
    expect(await rights.json()).toEqual({
      decisions: [
        { userId: 2001, permit: true },
        { userId: 2002, permit: false },
      ],
    });
    const names = await post('/register/api/v1/parties/nameslookup', {
      parties: [{ ssn: '01017012345' }, { orgNo: '910000001' }],
    });
    expect(await names.json()).toEqual({
      partyNames: [
        { ssn: '01017012345', orgNo: null, name: 'Ola Nordmann' },
        { ssn: null, orgNo: '910000001', name: 'Testbedrift AS' },
      ],
    });
  });

  it('takes records from a test and simulates an outage on demand', async () => {
    const nin = String(Date.now()).padStart(11, '7').slice(-11);
    await post('/admin/seed', {
      persons: [{ nationalIdentityNumber: nin, name: 'Test Person', email: 't@example.com' }],
    });
    await post('/admin/outage', { status: 503, count: 1 });
    const down = await post('/profile/api/v1/users/contactpoint/lookup', { nationalIdentityNumbers: [nin] });
    expect(down.status).toBe(503);
    const up = await post('/profile/api/v1/users/contactpoint/lookup', { nationalIdentityNumbers: [nin] });
    expect(await up.json()).toMatchObject({
      contactPointsList: [{ nationalIdentityNumber: nin, email: 't@example.com' }],
    });
  });

  it('refuses a malformed lookup with 400', async () => {
    expect((await post('/profile/api/v1/users/contactpoint/lookup', { nationalIdentityNumbers: 'x' })).status).toBe(
      400,
    );
  });
});

describe('SMTP sink', () => {
  it('receives mail over SMTP and shows it through its web API', async () => {
    const subject = `Stack check ${randomUUID()}`;
    const transport = nodemailer.createTransport({ host: env.SMTP_HOST, port: Number(env.SMTP_PORT), secure: false });
    await transport.sendMail({ from: 'noreply@altinn.cloud', to: 'ola@example.com', subject, text: 'Hei' });
    transport.close();
    const mails = (await fetch(`${env.MAIL_WEB_URL}/email`).then((r) => r.json())) as {
      subject: string;
      text: string;
    }[];
    expect(mails.find((m) => m.subject === subject)?.text.trim()).toBe('Hei');
  });
});

describe('SMTP sink delivery reports', () => {
  it('reports each email it receives to the gateway webhook, as an email provider would', async () => {
    // stands in for the gateway, on the port the stack's mail sink reports to
    const reports: { url: string; body: { eventType: string; data: { messageId: string; status: string } }[] }[] = [];
    let onReport = () => undefined as void;
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        reports.push({ url: req.url ?? '', body: JSON.parse(text) as (typeof reports)[number]['body'] });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        onReport();
      });
    });
    await new Promise<void>((r) => server.listen(Number(process.env.GATEWAY_PORT), '127.0.0.1', () => r()));
    try {
      const messageId = `<${randomUUID()}@altinn.cloud>`;
      const bounced = `<${randomUUID()}@altinn.cloud>`;
      const mine = () => reports.filter((r) => [messageId, bounced].includes(r.body[0]?.data.messageId ?? ''));
      const both = new Promise<void>((resolve) => {
        onReport = () => (mine().length >= 2 ? resolve() : undefined);
      });
      const transport = nodemailer.createTransport({ host: env.SMTP_HOST, port: Number(env.SMTP_PORT), secure: false });
      await transport.sendMail({
        from: 'noreply@altinn.cloud',
        to: 'ola@example.com',
        subject: 'r',
        text: 'x',
        messageId,
      });
      await transport.sendMail({
        from: 'noreply@altinn.cloud',
        to: 'bounce@example.com',
        subject: 'r',
        text: 'x',
        messageId: bounced,
      });
      transport.close();
      await both;
      const byId = new Map(mine().map((r) => [r.body[0]!.data.messageId, r]));
      expect(byId.get(messageId)!.url).toBe(
        `/notifications/email/api/v1/reports?accesskey=${process.env.EMAIL_REPORT_ACCESS_KEY}`,
      );
      expect(byId.get(messageId)!.body[0]).toMatchObject({
        eventType: 'Microsoft.Communication.EmailDeliveryReportReceived',
        data: { messageId, status: 'Delivered' },
      });
      expect(byId.get(bounced)!.body[0]!.data.status).toBe('Bounced');
    } finally {
      server.close();
    }
  });
});

describe('Redis', () => {
  it('serves commands and keeps an append-only file', async () => {
    const redis = testRedis();
    try {
      const key = `t:${randomUUID()}`;
      await redis.set(key, '1', 'EX', 60);
      expect(await redis.get(key)).toBe('1');
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    } finally {
      redis.disconnect();
    }
  });
});
