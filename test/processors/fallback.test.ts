import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STAGES } from '../../processors/stages.ts';
import { normaliseMobile } from '../../platform/registry/contacts.ts';
import { SUPPORT_SCOPE } from '../../gateway/auth.ts';
import { EMAIL_REPORT_KEY, METRICS_KEY, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { readParquet } from '../support/parquet.ts';
import { freePort, startNodeProcess, startStageProcess, type StageProcess } from '../support/process.ts';
import { smscOf } from '../support/smsc.ts';
import { eventually, stackEnv, stageEnv } from '../support/stack.ts';

const digits = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 10)).join('');
/**
 * A random Norwegian mobile number the registry lookup keeps: drawn until libphonenumber's full
 * metadata takes it, as the lookup does (a number it drops leaves the recipient without the
 * other channel, so without a fallback: 45 36x xxx was such a range, and failed a CI run).
 */
const mobile = (): string => {
  for (;;) {
    const m = `${Math.random() < 0.5 ? 4 : 9}${digits(7)}`;
    if (normaliseMobile(m) !== null) return m;
  }
};

interface Shipment {
  status: string;
  recipients: { status: string; destination: string }[];
}

/**
 * The fallback on the delivery outcome (an extension), end to end through the real services: an
 * order placed through the gateway for a person known by identity number, the whole chain and
 * both senders in a stage process, the SMSC simulator failing every SMS of its system id
 * (receiptState=UNDELIV) or delivering it, and the stack's mail sink (its own instance here,
 * reporting to this test's gateway) bouncing what goes to a bounce… address.
 */
describe('fallback on the delivery outcome', () => {
  const env = stackEnv();
  const systemId = `fb-${randomUUID().slice(0, 8)}`;
  const kari = { nin: digits(11), email: `kari-${digits(6)}@example.com`, mobile: mobile() };
  const bounce = { nin: digits(11), email: `bounce-${digits(6)}@example.com`, mobile: mobile() };
  let g: TestGateway;
  let proc: StageProcess | null = null;
  let sink: ReturnType<typeof startNodeProcess> | null = null;
  let mailWeb = '';
  /** the orders of the tests below, for the daily exports' test at the end */
  const placed: Record<'smsFirst' | 'smsOnly' | 'emailFirst', string> = { smsFirst: '', smsOnly: '', emailFirst: '' };

  const receipts = async (state: 'UNDELIV' | 'DELIVRD') => {
    const res = await fetch(`${env.SMSC_CONTROL_URL}/rules?${new URLSearchParams({ systemId, receiptState: state })}`, {
      method: 'POST',
    });
    expect(res.status).toBe(200);
  };
  const order = async (who: typeof kari, channelSchema: string, extra: Record<string, unknown>) => {
    const created = await g.call('POST', '/future/orders', {
      idempotencyId: `fallback-${randomUUID()}`,
      recipient: {
        recipientPerson: {
          nationalIdentityNumber: who.nin,
          channelSchema,
          smsSettings: { body: 'Hei $recipientName$, SMS', sendingTimePolicy: 'Anytime' },
          emailSettings: { subject: 'Hei', body: 'Hei $recipientName$, e-post' },
          ...extra,
        },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return (created.body.notification as { shipmentId: string }).shipmentId;
  };
  const completed = async (id: string) => {
    let shipment: Shipment | null = null;
    await eventually(
      async () => {
        const res = await g.call('GET', `/future/shipment/${id}`);
        shipment = res.body as unknown as Shipment;
        return shipment.status === 'Order_Completed';
      },
      `order ${id} Order_Completed`,
      90_000,
    );
    return shipment!.recipients.map((r) => `${r.status} ${r.destination}`).sort();
  };
  /** the emails the sink took for an order */
  const emailsOf = async (orderId: string) =>
    ((await (await fetch(`${mailWeb}/email`)).json()) as { headers: Record<string, string>; envelope?: unknown }[])
      .filter((m) => m.headers['x-order-id'] === orderId)
      .map((m) => m.headers['to']);
  const smsTexts = () => smscOf(systemId).texts();

  beforeAll(async () => {
    await fetch(`${env.REGISTRY_URL}/admin/seed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        persons: [
          { nationalIdentityNumber: kari.nin, name: 'Kari', email: kari.email, mobileNumber: kari.mobile },
          { nationalIdentityNumber: bounce.nin, name: 'Bo', email: bounce.email, mobileNumber: bounce.mobile },
        ],
      }),
    });
    g = await startTestGateway('fallback');
    const [smtp, web] = [await freePort(), await freePort()];
    mailWeb = `http://127.0.0.1:${web}`;
    sink = startNodeProcess('deploy/local/mail-sink/main.ts', {}, /mail sink listening/, {
      args: [
        '--smtp',
        String(smtp),
        '--web',
        String(web),
        '--reports',
        `${g.root}/notifications/email/api/v1/reports?accesskey=${EMAIL_REPORT_KEY}`,
      ],
    });
    await sink.ready;
    await receipts('UNDELIV');
    // every stage as a deployment runs them (the whole chain and both senders) in one process
    proc = startStageProcess([...DEFAULT_STAGES], {
      ...stageEnv(g.config),
      REGISTRY_URL: env.REGISTRY_URL,
      SCHEDULER_POLL_MS: '50',
      SMSC_HOST: env.SMSC_HOST,
      SMSC_PORT: env.SMSC_PORT,
      SMPP_SYSTEM_ID: systemId,
      SMPP_PASSWORD: 'secret',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp),
      SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
    });
    await proc.running;
  });

  afterAll(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    sink?.child.kill('SIGTERM');
    await sink?.exited;
    await g?.close();
  });

  it('sends the email once the preferred SMS is reported undelivered, and both show, in the shipment and the feed', async () => {
    const id = await order(kari, 'SmsPreferred', { fallbackOnDeliveryFailure: true });
    placed.smsFirst = id;
    expect(await completed(id)).toEqual([`Email_Delivered ${kari.email}`, `SMS_Failed_Undelivered +47${kari.mobile}`]);
    // once each: one SMS at the SMSC, one email at the sink
    expect((await smsTexts()).filter((t) => t === 'Hei Kari, SMS')).toHaveLength(1);
    expect(await emailsOf(id)).toEqual([kari.email]);
    const feed = await g.call('GET', '/future/shipment/feed?seq=0');
    const entry = (feed.body as unknown as ({ shipmentId: string } & Shipment)[]).find((e) => e.shipmentId === id);
    expect(entry?.recipients.map((r) => r.status).sort()).toEqual(['Email_Delivered', 'SMS_Failed_Undelivered']);
    // and support finds both under the person's number (the fallback indexed with the SMS)
    const dashboard = await g.call('GET', '/future/dashboard/recipients/notifications/nin', undefined, {
      scope: SUPPORT_SCOPE,
      headers: { NationalIdentityNumber: kari.nin },
    });
    expect(dashboard.status).toBe(200);
    const found = (dashboard.body as unknown as { shipmentId: string; deliveryAttempts: { result: string }[] }[]).find(
      (o) => o.shipmentId === id,
    );
    expect(found?.deliveryAttempts.map((a) => a.result).sort()).toEqual(['Delivered', 'Failed_Undelivered']);
    // and an operator sees it: the stage process's metrics count the fallback
    const opsPort = /"opsPort":(\d+)/.exec(proc!.output())![1];
    const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    expect(metrics).toMatch(/^notifications_fallback_total\{channel="email"\} 1$/m);
  });

  it('sends nothing more when the order does not ask (and its creator is not configured to)', async () => {
    const id = await order(kari, 'SmsPreferred', {});
    placed.smsOnly = id;
    expect(await completed(id)).toEqual([`SMS_Failed_Undelivered +47${kari.mobile}`]);
    expect(await emailsOf(id)).toEqual([]);
  });

  it('sends the SMS once the preferred email bounces', async () => {
    await receipts('DELIVRD');
    const id = await order(bounce, 'EmailPreferred', { fallbackOnDeliveryFailure: true });
    placed.emailFirst = id;
    expect(await completed(id)).toEqual([`Email_Failed_Bounced ${bounce.email}`, `SMS_Delivered +47${bounce.mobile}`]);
    expect(await emailsOf(id)).toEqual([bounce.email]);
    expect((await smsTexts()).filter((t) => t === 'Hei Bo, SMS')).toHaveLength(1);
  });

  it("lists every final result in the day's exports, with the SMSC's message ids and the mail server's references", async () => {
    expect(Object.values(placed).every(Boolean), 'the tests above ran').toBe(true);
    /** today's export (UTC) and, should the day have turned during the tests, yesterday's */
    const rows = async (channel: 'sms' | 'email') => {
      const out: Record<string, unknown>[] = [];
      for (const day of new Set(
        [Date.now() - 86_400_000, Date.now()].map((t) => new Date(t).toISOString().slice(0, 10)),
      )) {
        const res = await fetch(`${g.url}/metrics/${channel}?date=${day}`, {
          method: 'POST',
          headers: { 'x-api-key': METRICS_KEY },
        });
        expect(res.status).toBe(200);
        out.push(...readParquet(Buffer.from(await res.arrayBuffer())).rows);
      }
      return out
        .filter((r) => Object.values(placed).includes(r.ShipmentId as string))
        .map((r): Record<string, unknown> => ({ ...r, id: r.SmsId ?? r.EmailId }));
    };
    const messages = await smscOf(systemId).messages();
    const messageIdOf = (text: string) => {
      const m = messages.filter((x) => Buffer.from(x.shortMessageHex, 'hex').toString('latin1') === text);
      return m.map((x) => x.messageId);
    };
    const sms = await rows('sms');
    const row = (shipment: string, text: string, result: string, mobile: string) => ({
      ShipmentId: shipment,
      Result: result,
      GatewayReference: messageIdOf(text).join(),
      Rate: 'innland',
      MobileNumberPrefix: `+47${mobile[0]}`,
      AltinnSmsCount: 1,
      AltinnSmsBodyLength: 'Hei $recipientName$, SMS'.length,
      AltinnSmsCustomBodyLength: text.length,
    });
    const pick = (r: Record<string, unknown>) => ({
      ShipmentId: r.ShipmentId,
      Result: r.Result,
      GatewayReference: r.GatewayReference,
      Rate: r.Rate,
      MobileNumberPrefix: r.MobileNumberPrefix,
      AltinnSmsCount: r.AltinnSmsCount,
      AltinnSmsBodyLength: r.AltinnSmsBodyLength,
      AltinnSmsCustomBodyLength: r.AltinnSmsCustomBodyLength,
    });
    // Kari's two SMS were the same text: one message id each, in the order sent
    const kariIds = messageIdOf('Hei Kari, SMS');
    expect(kariIds).toHaveLength(2);
    expect(sms.map(pick).sort((a, b) => String(a.GatewayReference).localeCompare(String(b.GatewayReference)))).toEqual(
      [
        { ...row(placed.smsFirst, 'Hei Kari, SMS', 'Failed_Undelivered', kari.mobile), GatewayReference: kariIds[0] },
        { ...row(placed.smsOnly, 'Hei Kari, SMS', 'Failed_Undelivered', kari.mobile), GatewayReference: kariIds[1] },
        // the fallback's SMS (its text's length kept as the fallback fired)
        row(placed.emailFirst, 'Hei Bo, SMS', 'Delivered', bounce.mobile),
      ].sort((a, b) => a.GatewayReference!.localeCompare(b.GatewayReference!)),
    );
    // the emails: Kari's fallback delivered, Bo's bounced; each by the Message-ID the sink took
    const sent = (await (await fetch(`${mailWeb}/email`)).json()) as { headers: Record<string, string> }[];
    const messageId = (orderId: string) => sent.find((m) => m.headers['x-order-id'] === orderId)?.headers['message-id'];
    const emails = await rows('email');
    expect(emails.map((r) => [r.ShipmentId, r.Result, r.OperationId]).sort()).toEqual(
      [
        [placed.smsFirst, 'Delivered', messageId(placed.smsFirst)],
        [placed.emailFirst, 'Failed_Bounced', messageId(placed.emailFirst)],
      ].sort(),
    );
    // one number per notification, the same in every export
    expect(new Set([...sms, ...emails].map((r) => r.id)).size).toBe(5);
  });
});
