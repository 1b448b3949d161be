import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPPORT_SCOPE } from '../../gateway/auth.ts';
import { METRICS_KEY, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';
import { eventually, stackEnv, stageEnv } from '../support/stack.ts';

const BASE = '/future/dashboard/recipients/notifications';
const OLA = '01017012345'; // ola.nordmann@example.com
const PER = '03037012345'; // reserved
const ANNE = '06067012345'; // a user-registered contact of 910000001 with rights on app_ttd_demo
const ORG = '910000001'; // post@ and varsel@testbedrift.example, and Anne's

interface Attempt {
  nationalIdentityNumber?: string;
  organizationNumber?: string;
  channel: string;
  emailAddress?: string;
  mobileNumber?: string;
  result: string;
  resultTime: string;
}
interface Item {
  shipmentId: string;
  creatorName: string;
  resourceId?: string;
  sendersReference?: string;
  requestedSendTime: string;
  notificationChannel: string;
  notificationType: string;
  deliveryAttempts: Attempt[];
}

/**
 * The support dashboard (reference `DashboardController`): orders placed through the gateway by
 * two creators, to persons and an organisation, carried through the chain as deployed (the
 * registry simulator, a real SMTP server), then looked up by number across creators.
 */
describe('the support dashboard', () => {
  let g: TestGateway;
  let proc: StageProcess | null = null;
  let sink: Awaited<ReturnType<typeof startSmtpSink>>;
  let started = 0;
  const ids: Record<string, string> = {};
  /** a lookup with a support token (no org claim unless `org`), or with `token` */
  const lookup = async (
    path: string,
    headers: Record<string, string>,
    o: { org?: string | null; scope?: string; token?: string | null } = {},
  ) => {
    const token = o.token !== undefined ? o.token : await g.token(o.org ?? null, o.scope ?? SUPPORT_SCOPE);
    const res = await fetch(`${g.url}${BASE}/${path}`, {
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const items = async (path: string, headers: Record<string, string>) => {
    const r = await lookup(path, headers);
    expect(r.status).toBe(200);
    return r.body as Item[];
  };

  beforeAll(async () => {
    sink = await startSmtpSink();
    g = await startTestGateway('dashboard');
    proc = startStageProcess(['scheduler', 'prepare-notifications', 'send-email', 'order-view', 'status-view'], {
      ...stageEnv(g.config),
      REGISTRY_URL: stackEnv().REGISTRY_URL,
      SCHEDULER_POLL_MS: '50',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(sink.port),
      SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
    });
    await proc.running;
    started = Date.now();
    const person = (nin: string) => ({
      recipientPerson: {
        nationalIdentityNumber: nin,
        channelSchema: 'Email',
        emailSettings: { subject: 'Hei', body: 'Hei' },
      },
    });
    const place = async (name: string, org: string, recipient: unknown) => {
      const res = await g.call(
        'POST',
        '/future/orders',
        { idempotencyId: randomUUID(), sendersReference: `dash-${name}`, recipient },
        { org },
      );
      expect(res.status).toBe(201);
      ids[name] = (res.body as unknown as { notification: { shipmentId: string } }).notification.shipmentId;
    };
    await place('ola-ttd', 'ttd', person(OLA));
    await place('per', 'ttd', person(PER));
    await place('org', 'ttd', {
      recipientOrganization: {
        orgNumber: ORG,
        resourceId: 'urn:altinn:resource:app_ttd_demo',
        channelSchema: 'Email',
        emailSettings: { subject: 'Hei', body: 'Hei' },
      },
    });
    // another creator's order to the same person, a moment later (latest first)
    await new Promise((r) => setTimeout(r, 20));
    await place('ola-digdir', 'digdir', person(OLA));
    // one to be sent in an hour: outside any window that ends now
    const later = await g.call('POST', '/future/orders', {
      idempotencyId: randomUUID(),
      requestedSendTime: new Date(Date.now() + 3600_000).toISOString(),
      recipient: person(OLA),
    });
    expect(later.status).toBe(201);
    // every notification handed to SMTP (or a placeholder) and seen by the view
    await eventually(
      async () => {
        const ola = await lookup('nin', { NationalIdentityNumber: OLA });
        const org = await lookup('orgnumber', { OrganizationNumber: ORG });
        const all = [...(ola.body as Item[]), ...(org.body as Item[])].flatMap((i) => i.deliveryAttempts);
        return all.length === 5 && all.every((a) => a.result === 'Succeeded');
      },
      'the orders handed to SMTP and in the view',
      60_000,
    );
  });

  afterAll(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    await sink?.close();
    await g?.close();
  });

  it('counts the orders and their notifications in the monthly metrics, per creator', async () => {
    const month = (ms: number) => [new Date(ms).getUTCMonth() + 1, new Date(ms).getUTCFullYear()] as const;
    const [m, y] = month(started);
    // ttd's order for an hour later counts in its own month (this one, but at the month's end)
    const later = month(started + 3600_000)[0] === m ? 1 : 0;
    const read = async () => {
      const res = await fetch(`${g.url}/metrics`, {
        method: 'POST',
        headers: {
          'x-api-key': METRICS_KEY,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: `month=${m}&year=${y}`,
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { metrics: unknown[] }).metrics;
    };
    const row = (org: string, orders: number, emails: number, succeeded: number) => ({
      org,
      ordersCreated: orders,
      emailNotificationsCreated: emails,
      successfulEmailNotifications: succeeded,
      smsNotificationsCreated: 0,
      successfulSmsNotifications: 0,
    });
    // ttd: Ola's, the reserved person's (a placeholder, not succeeded), the organisation's three
    await eventually(
      async () =>
        JSON.stringify(await read()) === JSON.stringify([row('digdir', 1, 1, 1), row('ttd', 3 + later, 5, 4)]),
      'the monthly metrics',
      30_000,
    );
  });

  it("finds a person's notifications across creators, latest first, with the reference's fields", async () => {
    const found = await items('nin', { NationalIdentityNumber: OLA });
    expect(found.map((i) => [i.shipmentId, i.creatorName])).toEqual([
      [ids['ola-digdir'], 'digdir'],
      [ids['ola-ttd'], 'ttd'],
    ]);
    const [latest] = found;
    expect(latest).toEqual({
      shipmentId: ids['ola-digdir'],
      creatorName: 'digdir',
      sendersReference: 'dash-ola-digdir',
      requestedSendTime: expect.any(String),
      notificationChannel: 'Email',
      notificationType: 'Notification',
      deliveryAttempts: [
        {
          nationalIdentityNumber: OLA,
          channel: 'email',
          emailAddress: 'ola.nordmann@example.com',
          result: 'Succeeded',
          resultTime: expect.any(String),
        },
      ],
    });
    expect(Date.parse(latest!.requestedSendTime)).toBeGreaterThanOrEqual(started - 1000);
    // a reserved person: the placeholder the order left, with no address
    const per = await items('nin', { NationalIdentityNumber: PER });
    expect(per.map((i) => i.shipmentId)).toEqual([ids.per]);
    expect(per[0]!.deliveryAttempts).toEqual([
      {
        nationalIdentityNumber: PER,
        channel: 'email',
        result: 'Failed_RecipientReserved',
        resultTime: expect.any(String),
      },
    ]);
    expect(await items('nin', { NationalIdentityNumber: '12345678901' })).toEqual([]);
  });

  it("finds an organisation's notifications, its own addresses and its contacts', and a contact by number", async () => {
    const org = await items('orgnumber', { OrganizationNumber: ORG });
    expect(org.map((i) => i.shipmentId)).toEqual([ids.org]);
    expect(org[0]!.resourceId).toBe('urn:altinn:resource:app_ttd_demo');
    expect(org[0]!.deliveryAttempts.map((a) => [a.organizationNumber, a.emailAddress, a.result]).sort()).toEqual([
      [ORG, 'anne@testbedrift.example', 'Succeeded'],
      [ORG, 'post@testbedrift.example', 'Succeeded'],
      [ORG, 'varsel@testbedrift.example', 'Succeeded'],
    ]);
    // the contact, looked up as a person: only her notification of the order
    const anne = await items('nin', { NationalIdentityNumber: ANNE });
    expect(anne.map((i) => i.shipmentId)).toEqual([ids.org]);
    expect(anne[0]!.deliveryAttempts.map((a) => [a.nationalIdentityNumber, a.emailAddress])).toEqual([
      [ANNE, 'anne@testbedrift.example'],
    ]);
  });

  it('keeps to the window of requested send times [from, to)', async () => {
    const q = (from: number, to: number) =>
      `nin?from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
    const now = Date.now();
    expect((await items(q(now - 3600_000, now), { NationalIdentityNumber: OLA })).length).toBe(2);
    expect(await items(q(now - 3 * 3600_000, started - 60_000), { NationalIdentityNumber: OLA })).toEqual([]);
    // query names in any case, as ASP.NET binds them (unbound, the default window would find both)
    const upper = `nin?To=${encodeURIComponent(new Date(started - 60_000).toISOString())}`;
    expect(await items(upper, { NationalIdentityNumber: OLA })).toEqual([]);
  });

  it("answers bad lookups with the reference's messages, and looks nothing up", async () => {
    const bad = async (path: string, headers: Record<string, string>) => {
      const r = await lookup(path, headers);
      expect(r.status).toBe(400);
      return (r.body as { errors: Record<string, string[]> }).errors;
    };
    expect(await bad('nin', {})).toEqual({
      NationalIdentityNumber: ["A value for the 'NationalIdentityNumber' parameter or property was not provided."],
    });
    expect(await bad('nin', { NationalIdentityNumber: '' })).toEqual({
      NationalIdentityNumber: ["'NationalIdentityNumber' is required and cannot be empty"],
    });
    expect(await bad('nin', { NationalIdentityNumber: '12345' })).toEqual({
      NationalIdentityNumber: ['National identity number must be 11 digits long.'],
    });
    expect(await bad('orgnumber', { OrganizationNumber: '12345' })).toEqual({
      OrganizationNumber: ['Organization number must be 9 digits long.'],
    });
    const h = { NationalIdentityNumber: OLA };
    const day = 24 * 3600_000;
    const at = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
    // (dates of the last few days: a fixed one falls out of the default window, and its check
    // joins these, as 2026-12-01 did a week after the test was written)
    const noZone = (ms: number) => new Date(ms).toISOString().slice(0, 19);
    expect(await bad(`nin?from=${noZone(Date.now() - 2 * day)}`, h)).toEqual({
      From: ["The 'from' value must have specified a time zone."],
    });
    expect(await bad(`nin?to=${noZone(Date.now() - day).slice(0, 10)}`, h)).toEqual({
      To: ["The 'to' value must have specified a time zone."],
    });
    expect(await bad(`nin?from=${at(Date.now() - day)}&to=${at(Date.now() - 2 * day)}`, h)).toEqual({
      From: ["'from' must be earlier than 'to'."],
    });
    expect(await bad(`nin?from=${at(Date.now() + day)}`, h)).toEqual({ From: ["'from' must not be in the future."] });
    expect(await bad(`nin?from=${at(Date.now() - 3700 * day)}`, h)).toEqual({
      From: ["'from' must not be earlier than 10 years ago."],
    });
    expect(await bad(`nin?to=${at(Date.now() + day)}`, h)).toEqual({ To: ["'to' must not be in the future."] });
    expect(await bad(`nin?to=${at(Date.now() - 8 * day)}`, h)).toEqual({
      To: ["'to' must be later than the default 'from' (7 days ago)."],
    });
    expect(await bad('nin?from=yesterday', h)).toEqual({ From: ["The value 'yesterday' is not valid for From."] });
  });

  it('opens to the support scope alone, which opens nothing else', async () => {
    const h = { NationalIdentityNumber: OLA };
    expect((await lookup('nin', h, { token: null })).status).toBe(401);
    expect((await lookup('nin', h, { org: 'ttd', scope: 'altinn:serviceowner/notifications.create' })).status).toBe(
      403,
    );
    // with an org claim too, a support token reads every creator's
    const withOrg = await lookup('nin', h, { org: 'ttd' });
    expect((withOrg.body as Item[]).map((i) => i.creatorName)).toEqual(['digdir', 'ttd']);
    // and reads nothing else
    const shipment = await fetch(`${g.url}/future/shipment/${ids['ola-ttd']}`, {
      headers: { authorization: `Bearer ${await g.token('ttd', SUPPORT_SCOPE)}` },
    });
    expect(shipment.status).toBe(403);
    // a Platform Access Token does not open it
    const pat = await fetch(`${g.url}${BASE}/nin`, {
      headers: { PlatformAccessToken: await g.accessToken('digdir'), ...h },
    });
    expect(pat.status).toBe(401);
  });
});
