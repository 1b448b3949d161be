import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify } from '../../platform/errors.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { createLogger } from '../../platform/logger.ts';
import { SendLedger } from '../../platform/redis/send-ledger.ts';
import { ReceiptTracker, type SmsRef } from '../../processors/send-sms/receipts.ts';
import { sendSmsStage } from '../../processors/send-sms/stage.ts';
import { sampleSms, uniquePrefix, testRedis } from '../support/stack.ts';
import { overriding } from '../support/overriding.ts';

/**
 * A delivery receipt can reach send-sms (this instance or another) while the submit it answers is
 * still being recorded. Whatever the interleaving, the receipt must be applied exactly once: the
 * receipt either finds the recorded submit, or the recording finds the parked receipt.
 */
describe('SMS receipts racing their submit’s bookkeeping', () => {
  let redis: Redis;
  let other: Redis;
  beforeAll(() => {
    redis = testRedis();
    other = testRedis();
  });
  afterAll(async () => {
    redis.disconnect();
    other.disconnect();
  });

  const text = (id: string, stat = 'DELIVRD') =>
    `id:${id} sub:001 dlvrd:001 submit date:2611300900 done date:2611300900 stat:${stat} err:000 text:`;
  /** an SMS awaiting its receipts: notification `n` of order `o-<n>`, an hour to live */
  const smsRef = (n: string, orderId = `o-${n}`): SmsRef => ({
    notificationId: n,
    orderId,
    creator: 'ttd',
    destination: '+4799999999',
    expiresAt: Date.now() + 3_600_000,
  });

  it('applies every receipt once, however it interleaves with the recording (one connection or two)', async () => {
    const prefix = `${uniquePrefix('receipts')}sms-`;
    const published: StatusEvent[] = [];
    const publish = async (e: StatusEvent) => void published.push(e);
    // the submitting instance and another instance whose session got the receipt
    const submitting = new ReceiptTracker(redis, prefix, 3600, publish);
    const elsewhere = new ReceiptTracker(other, prefix, 3600, publish);
    const runs = 200;
    const ticks = (n: number) =>
      Array.from({ length: n }).reduce<Promise<void>>(
        (p) => p.then(() => new Promise((r) => setImmediate(r))),
        Promise.resolve(),
      );
    await Promise.all(
      Array.from({ length: runs }, async (_, i) => {
        const id = (0x1000000 + i).toString(16);
        const ref = smsRef(`n-${i}`, `o-${i}`);
        const receiver = i % 2 === 0 ? submitting : elsewhere;
        const lag = i % 4;
        // the receipt first (some with a decimal id in their text, beside the TLV that names the
        // part), then the recording a few ticks later, or the reverse
        const receipt = () =>
          receiver.onReceipt({
            messageId: i % 3 === 0 ? null : id,
            text: text(i % 5 === 0 && i % 3 !== 0 ? String(0x1000000 + i) : id),
          });
        const record = () => submitting.record(ref, [id]);
        if (i % 8 < 4) await Promise.all([receipt(), ticks(lag).then(record)]);
        else await Promise.all([record(), ticks(lag).then(receipt)]);
      }),
    );
    const per = new Map<string, number>();
    for (const e of published) per.set(e.notificationId!, (per.get(e.notificationId!) ?? 0) + 1);
    const missing = Array.from({ length: runs }, (_, i) => `n-${i}`).filter((n) => !per.has(n));
    expect(missing).toEqual([]);
    expect(published.every((e) => e.status === 'SMS_Delivered')).toBe(true);
  });

  it('reports a provider’s receipt with the provider’s name in the reference, as its acceptance was', async () => {
    const prefix = `${uniquePrefix('receipts-provider')}sms-link:`;
    const published: StatusEvent[] = [];
    const tracker = new ReceiptTracker(
      redis,
      prefix,
      3600,
      async (e) => void published.push(e),
      Date.now,
      () => undefined,
      16,
      'link',
    );
    const ref = smsRef('n-link', 'o-link');
    await tracker.record(ref, ['4a', '4b']);
    await tracker.onReceipt({ messageId: '4a', text: text('4a') });
    await tracker.onReceipt({ messageId: '4b', text: text('4b') });
    expect(published.map((e) => [e.status, e.gatewayReference])).toEqual([['SMS_Delivered', 'link/4a,4b']]);
  });

  it('matches a receipt by the one id it names, never by a digits-only hex id read as decimal', async () => {
    const prefix = `${uniquePrefix('receipts-radix')}sms-`;
    const published: StatusEvent[] = [];
    const tracker = new ReceiptTracker(redis, prefix, 3600, async (e) => void published.push(e));
    // an SMS accepted earlier as 0x11A0 (4512), and still awaiting its receipt; then a later one
    // accepted as 0x4512, whose receipt comes before send-sms has recorded it
    await tracker.record(smsRef('earlier'), ['11A0']);
    await tracker.onReceipt({ messageId: '4512', text: text('4512') });
    expect(published).toEqual([]);
    await tracker.record(smsRef('later'), ['4512']);
    expect(published.map((e) => e.notificationId)).toEqual(['later']);
    // the earlier one's own receipt still reports it, once
    await tracker.onReceipt({ messageId: '11A0', text: text('11A0') });
    await tracker.onReceipt({ messageId: '11A0', text: text('11A0') });
    expect(published.map((e) => e.notificationId)).toEqual(['later', 'earlier']);

    // Without the TLV, the text's id in the radix the SMSC is configured with: 10 here.
    const decimal = new ReceiptTracker(
      redis,
      prefix,
      3600,
      async (e) => void published.push(e),
      Date.now,
      () => undefined,
      10,
    );
    await decimal.record(smsRef('decimal'), ['ABCD']);
    await decimal.onReceipt({ messageId: null, text: text(String(0xabcd), 'UNDELIV') });
    expect(published.at(-1)).toMatchObject({ notificationId: 'decimal', status: 'SMS_Failed_Undelivered' });
    // and a hex tracker reads that text's digits as hex: another id, left parked, reporting nothing
    await tracker.record(smsRef('hex'), ['AB']);
    await tracker.onReceipt({ messageId: null, text: text('171') }); // 171 is 0xAB in decimal
    expect(published.map((e) => e.notificationId)).not.toContain('hex');
  });

  it('records a notification again without undoing a receipt it already has', async () => {
    const prefix = `${uniquePrefix('receipts-again')}sms-`;
    const published: StatusEvent[] = [];
    const tracker = new ReceiptTracker(redis, prefix, 3600, async (e) => void published.push(e));
    const ref = smsRef('twice', 'o');
    // two parts; the first part's receipt comes, then the sender records the parts again (it
    // handles the notification again after a failure), then the second part's receipt
    await tracker.record(ref, ['5001', '5002']);
    await tracker.onReceipt({ messageId: '5001', text: text('5001') });
    await tracker.record(ref, ['5001', '5002']);
    await tracker.onReceipt({ messageId: '5002', text: text('5002') });
    expect(published.map((e) => [e.notificationId, e.status])).toEqual([['twice', 'SMS_Delivered']]);
  });

  it('reports a multi-part SMS once when the receipts of its parts complete it at once (one instance or two)', async () => {
    const prefix = `${uniquePrefix('receipts-parts')}sms-`;
    const published: StatusEvent[] = [];
    const publish = async (e: StatusEvent) => {
      // publishing takes a moment, as a Kafka send does: the window the race needs
      await new Promise((r) => setImmediate(r));
      published.push(e);
    };
    const trackers = [
      new ReceiptTracker(redis, prefix, 3600, publish),
      new ReceiptTracker(other, prefix, 3600, publish),
    ];
    let redelivered = 0;
    /** a receipt as the SMSC delivers it: again, until it is acknowledged */
    const deliver = async (tracker: ReceiptTracker, id: string) => {
      for (;;) {
        try {
          return await tracker.onReceipt({ messageId: id, text: text(id) });
        } catch {
          redelivered++;
          await new Promise((r) => setImmediate(r));
        }
      }
    };
    const runs = 100;
    await Promise.all(
      Array.from({ length: runs }, async (_, i) => {
        const ids = [0, 1, 2].map((p) => (0x2000000 + i * 4 + p).toString(16));
        await trackers[0]!.record(smsRef(`m-${i}`, `o-${i}`), ids);
        // the three parts' receipts at once, spread over both instances
        await Promise.all(ids.map((id, p) => deliver(trackers[(i + p) % 2]!, id)));
      }),
    );
    const per = new Map<string, number>();
    for (const e of published) per.set(e.notificationId!, (per.get(e.notificationId!) ?? 0) + 1);
    expect([...per.values()].filter((n) => n !== 1)).toEqual([]);
    expect(per.size).toBe(runs);
    expect(published.every((e) => e.status === 'SMS_Delivered')).toBe(true);
    console.log(
      `multi-part receipts: ${runs} SMS of 3 parts, ${published.length} reports, ${redelivered} receipts delivered again`,
    );
  });

  it('leaves a receipt unacknowledged while another is publishing the report, and takes over a report whose holder died', async () => {
    const prefix = `${uniquePrefix('receipts-claim')}sms-`;
    const published: StatusEvent[] = [];
    let letGo!: () => void;
    const held = new Promise<void>((r) => (letGo = r));
    const slow = new ReceiptTracker(redis, prefix, 3600, async (e) => {
      await held;
      published.push(e);
    });
    let now = Date.now();
    const quick = new ReceiptTracker(
      other,
      prefix,
      3600,
      async (e) => void published.push(e),
      () => now,
    );
    const ref = (n: string) => smsRef(n, 'o');
    await quick.record(ref('held'), ['3000001']);
    const reporting = slow.onReceipt({ messageId: '3000001', text: text('3000001') });
    await new Promise((r) => setTimeout(r, 50));
    // the SMSC delivers the receipt again (to the other instance) while the first is publishing
    await expect(quick.onReceipt({ messageId: '3000001', text: text('3000001') })).rejects.toThrow(/being published/);
    letGo();
    await reporting;
    await quick.onReceipt({ messageId: '3000001', text: text('3000001') });
    expect(published.map((e) => e.notificationId)).toEqual(['held']);

    // a holder that died between its claim and its publish: once its claim lapses, a receipt
    // delivered again reports it
    await quick.record(ref('orphaned'), ['3000002']);
    const dying = new ReceiptTracker(redis, prefix, 3600, () => new Promise<void>(() => undefined));
    void dying.onReceipt({ messageId: '3000002', text: text('3000002') });
    await new Promise((r) => setTimeout(r, 50));
    await expect(quick.onReceipt({ messageId: '3000002', text: text('3000002') })).rejects.toThrow(/being published/);
    now += 31_000;
    await quick.onReceipt({ messageId: '3000002', text: text('3000002') });
    expect(published.map((e) => e.notificationId)).toEqual(['held', 'orphaned']);
  });

  it('reports an SMS the SMSC accepted as Accepted when its sender failed before recording it, and records it then', async () => {
    const prefix = `${uniquePrefix('receipts-replay')}sms-`;
    const published: StatusEvent[] = [];
    const tracker = new ReceiptTracker(redis, prefix, 3600, async (e) => void published.push(e));
    let failNext = true;
    let submits = 0;
    const stage = sendSmsStage({
      providers: [
        {
          name: 'default',
          smpp: { submit: async () => ({ kind: 'accepted', messageId: (0x6000 + submits++).toString(16) }) },
          receipts: {
            // Redis went away just after the SMSC took the SMS
            record: (ref, ids) => {
              if (!failNext) return tracker.record(ref, ids);
              failNext = false;
              return Promise.reject(new Error('connection lost'));
            },
          },
        },
      ],
      ledger: new SendLedger(redis, prefix, 3600),
      clock: Date.now,
    });
    const ctx = { logger: createLogger({ level: 'silent' }) } as never;
    const n = sampleSms('replayed');
    await expect(stage.handle(n, ctx)).rejects.toThrow(/connection lost/);
    // handled again (the runtime retries it): not sent again, reported as the SMSC answered
    const again = await stage.handle(n, ctx);
    expect(submits).toBe(1);
    expect(again).toMatchObject({
      kind: 'emit',
      records: [{ value: { status: 'SMS_Accepted', gatewayReference: '6000' } }],
    });
    // and its receipt is matched
    await tracker.onReceipt({ messageId: '6000', text: text('6000') });
    expect(published.map((e) => [e.notificationId, e.status])).toEqual([[n.notificationId, 'SMS_Delivered']]);
  });

  it('takes its own report up again at once after Redis went away in the middle of it: marks one it published, publishes one it did not, each once', async () => {
    const prefix = `${uniquePrefix('receipts-own')}sms-`;
    const published: StatusEvent[] = [];
    // the commands that fail once, as when Redis goes away (not a reply error)
    const failing = new Set<string>();
    const flaky = overriding(redis, (prop) => {
      if (typeof prop !== 'string' || !failing.has(prop)) return undefined;
      failing.delete(prop);
      return async () => Promise.reject(new Error('Connection is closed.'));
    });
    let failPublish = false;
    const tracker = new ReceiptTracker(flaky, prefix, 3600, async (e) => {
      if (failPublish) {
        failPublish = false;
        throw new Error('Kafka away');
      }
      published.push(e);
    });
    const parts = (n: string) => redis.hgetall(`${prefix}parts:{${n}}`);

    // published, then its mark lost: the receipt delivered again marks it and publishes nothing
    await tracker.record(smsRef('marked'), ['4000001']);
    failing.add('hset');
    await expect(tracker.onReceipt({ messageId: '4000001', text: text('4000001') })).rejects.toThrow(
      /Connection is closed/,
    );
    await tracker.onReceipt({ messageId: '4000001', text: text('4000001') });
    expect(published.map((e) => e.notificationId)).toEqual(['marked']);
    expect(await parts('marked')).toMatchObject({ _reported: '1' });

    // not published, and its claim not let go: the receipt delivered again publishes it at once,
    // not after the claim's 30 s
    await tracker.record(smsRef('retaken'), ['4000002']);
    failPublish = true;
    failing.add('hdel');
    await expect(tracker.onReceipt({ messageId: '4000002', text: text('4000002') })).rejects.toThrow(/Kafka away/);
    await tracker.onReceipt({ messageId: '4000002', text: text('4000002') });
    expect(published.map((e) => e.notificationId)).toEqual(['marked', 'retaken']);

    // the same receipt delivered twice at once to this tracker: one publishes, the other waits
    let letGo!: () => void;
    const gate = new Promise<void>((r) => (letGo = r));
    const slow = new ReceiptTracker(redis, prefix, 3600, async (e) => {
      await gate;
      published.push(e);
    });
    await slow.record(smsRef('together'), ['4000004']);
    const calls = [0, 1].map(() => slow.onReceipt({ messageId: '4000004', text: text('4000004') }));
    // the one that finds the report claimed settles first, while the other is held publishing it
    const first = await Promise.race(
      calls.map((c) =>
        c.then(
          () => 'fulfilled',
          () => 'rejected',
        ),
      ),
    );
    expect(first).toBe('rejected');
    letGo();
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(published.filter((e) => e.notificationId === 'together')).toHaveLength(1);

    // the claim is this tracker's own: another instance still waits for it
    await tracker.record(smsRef('elsewhere'), ['4000003']);
    failPublish = true;
    failing.add('hdel');
    await expect(tracker.onReceipt({ messageId: '4000003', text: text('4000003') })).rejects.toThrow(/Kafka away/);
    const another = new ReceiptTracker(other, prefix, 3600, async (e) => void published.push(e));
    await expect(another.onReceipt({ messageId: '4000003', text: text('4000003') })).rejects.toThrow(/being published/);
  });

  it('reports Redis being away as a dependency unavailable (retried until it answers), never as an unexpected error', async () => {
    // a connection to a port nothing listens on, which gives up on each call at once
    const away = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
    });
    away.on('error', () => undefined);
    try {
      const tracker = new ReceiptTracker(away, `${uniquePrefix('receipts')}sms-`, 3600, async () => undefined);
      // the runtime gives an UNEXPECTED error five attempts, then dead-letters it: a Redis
      // failover longer than those would have dead-lettered SMS the SMSC had accepted
      for (const call of [
        () => tracker.record(smsRef('away'), ['7000']),
        () => tracker.onReceipt({ messageId: '7000', text: text('7000') }),
      ]) {
        const err = await call().then(
          () => null,
          (e: unknown) => e,
        );
        expect(classify(err)).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', retriable: true });
      }
    } finally {
      away.disconnect();
    }
  });
});
