import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { provision } from '../../platform/provision.ts';
import { SharedAccountLimit } from '../../platform/redis/account-limits.ts';
import { SendLedger } from '../../platform/redis/send-ledger.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { SmppClient } from '../../platform/smpp/client.ts';
import { canonicalId } from '../../platform/smpp/message.ts';
import { topicName } from '../../platform/topics.ts';
import type { StageRunner } from '../../processors/runtime/runner.ts';
import { ReceiptTracker } from '../../processors/send-sms/receipts.ts';
import { sendSmsStage } from '../../processors/send-sms/stage.ts';
import { startStageProcess } from '../support/process.ts';
import {
  eventually,
  publish,
  sampleSms,
  stackEnv,
  stageEnv,
  testClients,
  testConfig,
  testRunner,
  uniquePrefix,
  testRedis,
} from '../support/stack.ts';
import { watchStatuses } from '../support/collector.ts';

const sms = sampleSms;

interface SmscMessage {
  messageId: string;
  sourceAddr: string;
  sourceTon: number;
  destAddr: string;
  destTon: number;
  udhi: boolean;
  dataCoding: number;
  registeredDelivery: number;
  esmClass: number;
  validityPeriod: string;
  shortMessageHex: string;
}

describe('send-sms', () => {
  const env = stackEnv();
  const systemId = `sms-${randomUUID().slice(0, 8)}`;
  const prefix = uniquePrefix('sms');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1' });
  const { kafka, codec } = testClients(config);
  const redis = testRedis();
  const statuses: StatusEvent[] = [];
  let runner: StageRunner;
  let client: SmppClient;
  let watch: Awaited<ReturnType<typeof watchStatuses>> | undefined;
  let producer: Awaited<ReturnType<typeof kafka.plainProducer>>;

  const of = (n: SmsNotification) => statuses.filter((s) => s.notificationId === n.notificationId).map((s) => s.status);
  const wait = (predicate: () => boolean, what: string) => watch!.waitUntil(predicate, 30_000, what);
  const rules = async (query: Record<string, string>) => {
    const res = await fetch(`${env.SMSC_CONTROL_URL}/rules?${new URLSearchParams({ systemId, ...query })}`, {
      method: 'POST',
    });
    expect(res.status).toBe(200);
  };
  const messages = async () =>
    (await (await fetch(`${env.SMSC_CONTROL_URL}/messages?systemId=${systemId}`)).json()) as SmscMessage[];
  /** the texts of the SMSC's accepted messages that start with `prefix` */
  const smscTexts = async (prefix: string) =>
    (await messages())
      .map((m) => Buffer.from(m.shortMessageHex, 'hex').toString('latin1'))
      .filter((t) => t.startsWith(prefix));
  /** delivered, or failed in some way: nothing more will happen to it */
  const final = (list: StatusEvent['status'][]) =>
    list.some((s) => s === 'SMS_Delivered' || s.startsWith('SMS_Failed'));
  const send = (...ns: SmsNotification[]) =>
    publish(
      kafka,
      codec,
      prefix,
      'smsQueue',
      ns.map((n) => ({ key: n.notificationId, value: n })),
    );

  beforeAll(async () => {
    await provision(kafka, codec, config);
    producer = await kafka.plainProducer();
    watch = await watchStatuses(kafka, codec, prefix, (v) => statuses.push(v));
    const receipts = new ReceiptTracker(redis, `${prefix}sms-`, 3600, async (event) => {
      await producer.send([
        { topic: topicName(prefix, 'status'), key: event.orderId, value: await codec.encode('status', event) },
      ]);
    });
    const logger = createLogger({ level: 'silent' });
    client = new SmppClient(
      {
        host: env.SMSC_HOST,
        port: Number(env.SMSC_PORT),
        systemId,
        password: 'secret',
        limit: new SharedAccountLimit(redis, `${prefix}limits:smpp:`, { perSecond: 500, window: 5, leaseMs: 10_000 }),
        enquireLinkMs: 5_000,
        responseTimeoutMs: 3_000,
      },
      (r) => receipts.onReceipt(r),
      logger,
    );
    client.start();
    runner = testRunner(
      sendSmsStage({
        providers: [{ name: 'default', smpp: client, receipts }],
        ledger: new SendLedger(redis, `${prefix}sms-`, 3600),
        clock: Date.now,
        throttledBackoffMs: 50,
        concurrency: 5,
      }),
      { kafka, codec, logger, config },
    );
    await runner.start();
    await runner.joined();
  });

  afterAll(async () => {
    await runner?.close();
    await client?.close();
    await watch?.stop();
    await producer?.close();
    await kafka.close();
    redis.disconnect();
  });

  it('submits with registered delivery, the sender’s TON/NPI and a validity period, and reports Accepted then Delivered', async () => {
    const n = sms('Hei fra Altinn, æøå ÆØÅ');
    await send(n);
    await wait(() => of(n).includes('SMS_Delivered') && of(n).includes('SMS_Accepted'), 'the receipt');
    expect([...of(n)].sort()).toEqual(['SMS_Accepted', 'SMS_Delivered']);
    const accepted = statuses.find((s) => s.notificationId === n.notificationId && s.status === 'SMS_Accepted')!;
    const m = (await messages()).find((x) => x.messageId === accepted.gatewayReference)!;
    expect(m).toMatchObject({
      sourceAddr: 'Altinn',
      sourceTon: 5,
      destAddr: '4799999999',
      destTon: 1,
      registeredDelivery: 1,
      dataCoding: 0,
      udhi: false,
    });
    expect(m.validityPeriod).toMatch(/^\d{12}000\+$/);
    // reported: its id is let go, its parts kept an hour for receipts sent again
    await eventually(
      async () => (await redis.exists(`${prefix}sms-ref:{${canonicalId(m.messageId, 16)}}`)) === 0,
      'its id let go',
    );
    const parts = await redis.ttl(`${prefix}sms-parts:{${n.notificationId}}`);
    expect(parts).toBeGreaterThan(0);
    expect(parts).toBeLessThanOrEqual(3600);
  });

  it('splits a long message with UDH and reports Delivered only when every part is', async () => {
    const n = sms('Dette er en lang melding. '.repeat(16)); // 416 GSM characters: 3 parts
    await send(n);
    await wait(() => of(n).includes('SMS_Delivered') && of(n).includes('SMS_Accepted'), 'all three receipts');
    const accepted = statuses.find((s) => s.notificationId === n.notificationId && s.status === 'SMS_Accepted')!;
    const ids = accepted.gatewayReference!.split(',');
    expect(ids).toHaveLength(3);
    const parts = (await messages()).filter((m) => ids.includes(m.messageId));
    expect(parts.every((p) => p.udhi && (p.esmClass & 0x40) === 0x40)).toBe(true);
    expect([...of(n)].sort()).toEqual(['SMS_Accepted', 'SMS_Delivered']);
  });

  it('sends text outside GSM 03.38 as UCS-2', async () => {
    const n = sms('Привет! Ваш код 1234');
    await send(n);
    await wait(() => of(n).includes('SMS_Delivered') && of(n).includes('SMS_Accepted'), 'the receipt');
    const accepted = statuses.find((s) => s.notificationId === n.notificationId && s.status === 'SMS_Accepted')!;
    expect((await messages()).find((m) => m.messageId === accepted.gatewayReference)?.dataCoding).toBe(8);
  });

  it('maps an invalid destination to Failed_InvalidRecipient, and waits out throttling without failing', async () => {
    await rules({ mode: 'reject', status: '0x0B', count: '1' });
    const invalid = sms('x');
    await send(invalid);
    await wait(() => of(invalid).length > 0, 'the rejection');
    expect(of(invalid)).toEqual(['SMS_Failed_InvalidRecipient']);
    await rules({ mode: 'throttle', count: '4' });
    const throttled = sms('y');
    await send(throttled);
    await wait(
      () => of(throttled).includes('SMS_Delivered') && of(throttled).includes('SMS_Accepted'),
      'the throttled one delivered',
    );
    expect([...of(throttled)].sort()).toEqual(['SMS_Accepted', 'SMS_Delivered']);
  });

  it('matches receipts with decimal ids and maps their states', async () => {
    await rules({ receiptState: 'UNDELIV', receiptIdFormat: 'decimal' });
    const n = sms('z');
    await send(n);
    await wait(() => of(n).length >= 2, 'the receipt');
    expect([...of(n)].sort()).toEqual(['SMS_Accepted', 'SMS_Failed_Undelivered']);
    await rules({ receiptState: 'DELIVRD', receiptIdFormat: 'hex' });
  });

  it('leaves an SMS whose receipt never comes Accepted (its expiry check takes it from there)', async () => {
    // the SMSC sends no receipt for the first SMS submitted after this rule
    await rules({ mode: 'no-receipt', count: '1' });
    const pair = [sms('one of these two gets no receipt'), sms('and the other one gets its receipt')];
    await send(...pair);
    // the stage submits the two side by side: either may be first
    const done = (n: (typeof pair)[number]) => of(n).includes('SMS_Delivered') && of(n).includes('SMS_Accepted');
    await wait(() => pair.some(done), 'one of them delivered');
    // receipts go out in submit order: the other one's would have come first
    const silent = pair.find((n) => !done(n))!;
    expect(pair.filter(done)).toHaveLength(1);
    expect(of(silent)).toEqual(['SMS_Accepted']);
    // its message id stays matchable as long as the SMSC may still report: its validity (48 h
    // here), though the tracker's own TTL is an hour
    const accepted = statuses.find((s) => s.notificationId === silent.notificationId && s.status === 'SMS_Accepted')!;
    const ttl = await redis.ttl(`${prefix}sms-ref:{${canonicalId(accepted.gatewayReference!, 16)}}`);
    expect(ttl).toBeGreaterThan(48 * 3600);
  });

  it('keeps sending after the SMSC drops the connection, reporting only the unanswered submits as failed', async () => {
    await rules({ mode: 'drop', afterSubmits: '1', count: '1' });
    const batch = Array.from({ length: 5 }, (_, i) => sms(`drop ${i}`));
    await send(...batch);
    await wait(() => batch.every((n) => final(of(n))), 'a final status for each');
    const delivered = batch.filter((n) => of(n).includes('SMS_Delivered'));
    const failed = batch.filter((n) => of(n).includes('SMS_Failed'));
    // the submits in flight when the SMSC hung up (the one it dropped on, and any sent beside it
    // and left unanswered) may have gone out: failed, never sent again; the rest are delivered
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed.length + delivered.length).toBe(5);
    const texts = await smscTexts('drop ');
    expect(new Set(texts).size).toBe(texts.length);
    for (const n of delivered) expect(texts).toContain(n.body);
  });

  it('loses no SMS and sends none twice when the SMSC drops the connection with a full window in flight', async () => {
    // The SMSC answers two submits, then leaves the next five (the client's whole window)
    // unanswered and hangs up: the client cannot know whether those five went out.
    await rules({ mode: 'drop', afterSubmits: '2', hold: '5', count: '1' });
    const batch = Array.from({ length: 12 }, (_, i) => sms(`window ${i}`));
    await send(...batch);
    await wait(() => batch.every((n) => final(of(n))), 'a final status for each');
    const failed = batch.filter((n) => of(n).includes('SMS_Failed'));
    const delivered = batch.filter((n) => of(n).includes('SMS_Delivered'));
    // the five in flight: reported failed (they may have gone), never submitted again
    expect(failed).toHaveLength(5);
    expect(delivered).toHaveLength(7);
    const stats = (await (await fetch(`${env.SMSC_CONTROL_URL}/stats?systemId=${systemId}`)).json()) as {
      drops: number;
      binds: number;
    };
    expect(stats.drops).toBeGreaterThanOrEqual(1);
    expect(stats.binds).toBeGreaterThanOrEqual(2);
    // what the SMSC accepted: the seven, each once
    const texts = await smscTexts('window ');
    expect(texts.sort()).toEqual(delivered.map((n) => n.body).sort());
  });
});

describe('send-sms process', () => {
  it('submits no SMS twice and loses none when SIGKILLed mid-stream (10,000 SMS), and matches every receipt', async () => {
    const env = stackEnv();
    const systemId = `kill-${randomUUID().slice(0, 8)}`;
    const prefix = uniquePrefix('sms-kill');
    const config = testConfig(prefix);
    const { kafka, codec } = testClients(config);
    await provision(kafka, codec, config);
    const total = 10_000;
    const batch = Array.from({ length: total }, (_, i) => sms(`melding ${i}`));
    const byId = new Map<string, StatusEvent['status'][]>();
    const watch = await watchStatuses(kafka, codec, prefix, (v) => {
      const list = byId.get(v.notificationId!) ?? [];
      list.push(v.status);
      byId.set(v.notificationId!, list);
    });
    const stats = async () =>
      (await (await fetch(`${env.SMSC_CONTROL_URL}/stats?systemId=${systemId}`)).json()) as { accepted: number };
    const processEnv = {
      ...stageEnv(config),
      SMSC_HOST: env.SMSC_HOST,
      SMSC_PORT: env.SMSC_PORT,
      SMPP_SYSTEM_ID: systemId,
      SMPP_PASSWORD: 'secret',
      SMPP_TPS: '5000',
      SMPP_WINDOW: '10',
    };
    const processes: ReturnType<typeof startStageProcess>[] = [];
    try {
      const first = startStageProcess(['send-sms'], processEnv);
      processes.push(first);
      await first.running;
      const feeding = (async () => {
        for (let i = 0; i < total; i += 1000) {
          await publish(
            kafka,
            codec,
            prefix,
            'smsQueue',
            batch.slice(i, i + 1000).map((n) => ({ key: n.notificationId, value: n })),
          );
        }
      })();
      // the SMSC is another process: its count is read, there is no event to await
      await eventually(async () => (await stats()).accepted >= total * 0.3, 'a third submitted', 120_000);
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      const second = startStageProcess(['send-sms'], processEnv);
      processes.push(second);
      await feeding;
      // from the first SMS not yet settled on (a scan of all 10,000 per check is quadratic)
      let next = 0;
      const settled = () => {
        while (next < total && (byId.get(batch[next]!.notificationId) ?? []).some((s) => s !== 'SMS_Accepted')) next++;
        return next === total;
      };
      await watch.waitUntil(settled, 150_000, 'a final status for every SMS').catch(async (err: unknown) => {
        const open = batch.filter((n) => !(byId.get(n.notificationId) ?? []).some((x) => x !== 'SMS_Accepted'));
        const shapes = new Map<string, number>();
        for (const n of open) {
          const k = JSON.stringify(byId.get(n.notificationId) ?? []);
          shapes.set(k, (shapes.get(k) ?? 0) + 1);
        }
        console.log('unsettled:', open.length, [...shapes.entries()], JSON.stringify(await stats()));
        throw err;
      });
      // what the process says of its SMPP session, once every SMS is settled
      const opsPort = /"opsPort":(\d+)/.exec(second.output())![1];
      const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      expect(metrics).toMatch(/^smpp_sessions_bound 1$/m);
      expect(metrics).toMatch(/^smpp_window_in_use 0$/m);
      expect(metrics).toMatch(/^smpp_submits_total\{result="accepted"\} [1-9]\d*$/m);
      expect(metrics).toMatch(/^notifications_handed_off_total\{channel="sms"\} [1-9]\d*$/m);
      expect(metrics).toMatch(/^notifications_delivery_latency_seconds_count\{channel="sms"\} [1-9]\d*$/m);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);

      const submitted = (await (await fetch(`${env.SMSC_CONTROL_URL}/messages?systemId=${systemId}`)).json()) as {
        shortMessageHex: string;
      }[];
      const bodies = new Map<string, number>();
      for (const m of submitted) {
        const text = Buffer.from(m.shortMessageHex, 'hex').toString('latin1');
        bodies.set(text, (bodies.get(text) ?? 0) + 1);
      }
      const twice = [...bodies.values()].filter((c) => c > 1).length;
      // a receipt (published at once) may arrive before the Accepted of its transaction
      const seen = batch.map((n) => byId.get(n.notificationId)!);
      const delivered = seen.filter((l) => l.includes('SMS_Delivered')).length;
      const failed = seen.filter((l) => l.includes('SMS_Failed') && !l.includes('SMS_Delivered')).length;
      console.log(
        `send-sms at-most-once: ${total} SMS, ${submitted.length} submitted, ${twice} submitted twice, ` +
          `${delivered} Delivered (receipt matched), ${failed} Failed (killed inside a submit), ${total - delivered - failed} other`,
      );
      expect(twice).toBe(0);
      expect(delivered + failed).toBe(total);
      // only submits in flight at the kill can be uncertain: one window's worth
      expect(failed).toBeLessThanOrEqual(10);
    } finally {
      for (const p of processes) p.child.kill('SIGKILL');
      await watch.stop();
      await kafka.close();
    }
  });
});
