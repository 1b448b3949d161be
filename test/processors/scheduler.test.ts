// One test holds a transaction open with kafkajs's own API (the adapter's producers commit in one
// call), so it uses the client directly.
// eslint-disable-next-line no-restricted-imports
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import { FairShare } from '../../platform/redis/fair-share.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { topicName } from '../../platform/topics.ts';
import { Releaser } from '../../processors/runtime/releaser.ts';
import { schedulerStage } from '../../processors/scheduler/stage.ts';
import { queueLag } from '../../processors/scheduler/index.ts';
import { SendGate } from '../../processors/scheduler/send-gate.ts';
import { stageGroupId } from '../../processors/runtime/runner.ts';
import { collectKeys } from '../support/collector.ts';
import { stageWithReleaser } from '../support/in-process.ts';
import { killAndRestart } from '../support/kill-restart.ts';
import {
  eventually,
  produceOrders,
  publish,
  sampleOrder,
  stackEnv,
  stageEnv,
  testClients,
  testConfig,
  uniquePrefix,
  testRedis,
} from '../support/stack.ts';
import { overriding } from '../support/overriding.ts';

describe('scheduler', () => {
  const harness = stageWithReleaser({
    label: 'sched',
    keyPrefix: 'orders:',
    name: 'scheduler',
    output: 'ordersDue',
    stage: ({ clock }) => schedulerStage({ clock }),
  });
  const { prefix, kafka, codec, store } = harness;
  const arrivals = new Map<string, number>();
  const out = harness.collecting('ordersDue');
  beforeAll(() => harness.start());
  afterAll(() => harness.stop());

  const publishOrders = (...orders: ReturnType<typeof sampleOrder>[]) =>
    publish(
      kafka,
      codec,
      prefix,
      'orders',
      orders.map((o) => ({ key: o.orderId, value: o })),
    );

  it('releases past-due orders at once and future ones not before their send time', async () => {
    const now = Date.now();
    const past = [sampleOrder(1, { requestedSendTime: now - 60_000 }), sampleOrder(2, { requestedSendTime: now - 1 })];
    const soon = [
      sampleOrder(3, { requestedSendTime: now + 1_500 }),
      sampleOrder(4, { requestedSendTime: now + 2_000 }),
    ];
    const later = sampleOrder(5, { requestedSendTime: now + 3_600_000 });
    const collector = out();
    const seenAt = () => {
      for (const id of collector.counts.keys()) if (!arrivals.has(id)) arrivals.set(id, Date.now());
      return true;
    };
    await publishOrders(...past, ...soon, later);
    await collector.waitFor(
      () => seenAt() && past.every((o) => collector.counts.has(o.orderId)),
      10_000,
      'past-due orders',
    );
    expect(soon.some((o) => collector.counts.has(o.orderId))).toBe(false);
    await collector.waitFor(() => seenAt() && soon.every((o) => collector.counts.has(o.orderId)), 10_000, 'due orders');
    for (const o of soon) expect(arrivals.get(o.orderId)!).toBeGreaterThanOrEqual(o.requestedSendTime);
    expect(collector.counts.has(later.orderId)).toBe(false);
    // the order waits in Redis as the record orders.due will carry (framed Avro), not as JSON
    const redis = testRedis();
    try {
      const held = await redis.hgetBuffer(`${prefix}orders:{schedule}:items`, later.orderId);
      expect(held?.[0]).toBe(0);
      expect(held!.length).toBeLessThan(Buffer.byteLength(JSON.stringify(later)) / 3);
      expect(await codec.decode('ordersDue', held)).toEqual(
        await codec.decode('orders', await codec.encode('orders', later)),
      );
    } finally {
      redis.disconnect();
    }
    expect(await store.cancel(later.orderId, Date.now())).toBe('cancelled');
    expect(await store.cancel(past[0]!.orderId, Date.now())).toBe('released');
  });

  it('does not release an order again when the orders topic is replayed', async () => {
    const collector = out();
    const once = sampleOrder(6, { requestedSendTime: Date.now() - 1_000 });
    await publishOrders(once);
    await collector.waitFor(() => collector.counts.has(once.orderId), 10_000, 'the first release');
    // One partition: the sentinel is handled after the replay, so its arrival means the replay was handled.
    const sentinel = sampleOrder(7, { requestedSendTime: Date.now() - 1_000 });
    await publishOrders(once, sentinel);
    await collector.waitFor(() => collector.counts.has(sentinel.orderId), 10_000, 'the sentinel');
    expect(collector.counts.get(once.orderId)).toBe(1);
    expect(collector.duplicated).toBe(0);
  });
});

describe('scheduler with a direct producer', () => {
  const harness = stageWithReleaser({
    label: 'sched-rules',
    keyPrefix: 'orders:',
    name: 'scheduler',
    output: 'ordersDue',
    stage: ({ clock }) => schedulerStage({ clock }),
  });
  const { prefix, kafka, codec } = harness;
  const dead = harness.collecting('deadLetter');
  const due = harness.collecting('ordersDue');
  beforeAll(() => harness.start());
  afterAll(() => harness.stop());

  it('dead-letters an order that breaks the rules, with the reason and an Order_Rejected status, and keeps going', async () => {
    const bad = sampleOrder(1, {
      notificationChannel: 'SmsPreferred',
      smsTemplate: null,
      recipients: [
        {
          nationalIdentityNumber: '123',
          organizationNumber: null,
          externalIdentity: null,
          emailAddress: null,
          mobileNumber: null,
          isReserved: null,
        },
      ],
    });
    const good = sampleOrder(2, { requestedSendTime: Date.now() - 1 });
    await publish(kafka, codec, prefix, 'orders', [
      { key: bad.orderId, value: bad },
      { key: good.orderId, value: good },
    ]);
    await dead().waitFor(() => dead().counts.has(bad.orderId), 15_000, 'the dead letter');
    await due().waitFor(() => due().counts.has(good.orderId), 15_000, 'the valid order');
    expect(due().counts.has(bad.orderId)).toBe(false);
    const letters: Buffer[] = [];
    const statuses: Buffer[] = [];
    await kafka.readSince(topicName(prefix, 'deadLetter'), 0, (r) => void letters.push(r.value!));
    await kafka.readSince(topicName(prefix, 'status'), 0, (r) => void statuses.push(r.value!));
    const letter = await codec.decode('deadLetter', letters[0]!);
    expect(letter).toMatchObject({
      stage: 'scheduler',
      errorCode: 'INVALID_RECORD',
      originalTopic: topicName(prefix, 'orders'),
    });
    expect(letter.reason).toContain('recipients[0].nationalIdentityNumber must be 11 digits');
    expect(letter.reason).toContain('smsTemplate is required for SmsPreferred');
    const events = await Promise.all(statuses.map((b) => codec.decode('status', b)));
    expect(events.find((e) => e.orderId === bad.orderId)).toMatchObject({ status: 'Order_Rejected' });
  });
});

/**
 * The scheduler with a fair share of email at 100/s between the paced creators, half a second of
 * it at once, and its releaser with `gates`; started before and stopped after the suite.
 */
function fairScheduler(label: string, gates?: Parameters<typeof stageWithReleaser>[0]['gates']) {
  const redis = testRedis();
  const harness = stageWithReleaser({
    label,
    keyPrefix: 'orders:',
    name: 'scheduler',
    output: 'ordersDue',
    stage: ({ clock, prefix }) =>
      schedulerStage({
        clock,
        pacer: new FairShare(redis, `${prefix}fair:`, {
          perSecond: { email: 100, sms: 0 },
          burstSeconds: 0.5,
          weights: {},
        }),
      }),
    ...(gates ? { gates } : {}),
  });
  const due = harness.collecting('ordersDue');
  beforeAll(() => harness.start());
  afterAll(async () => {
    await harness.stop();
    redis.disconnect();
  });
  return { ...harness, due };
}

/**
 * A creator's campaign of `size` orders and another creator's 5, all due now, published
 * together; `note()` records when each is first seen due (and returns true, to sit in a wait's
 * condition); `sent` is when they were published.
 */
async function campaignAndFew(
  h: Pick<ReturnType<typeof fairScheduler>, 'kafka' | 'codec' | 'prefix' | 'due'>,
  size: number,
) {
  const now = Date.now() - 1;
  const campaign = Array.from({ length: size }, (_, i) =>
    sampleOrder(i, { creator: 'campaign', requestedSendTime: now }),
  );
  const few = Array.from({ length: 5 }, (_, i) => sampleOrder(1000 + i, { creator: 'few', requestedSendTime: now }));
  const seen = new Map<string, number>();
  const note = () => {
    for (const id of h.due().counts.keys()) if (!seen.has(id)) seen.set(id, Date.now());
    return true;
  };
  const sent = Date.now();
  await publish(
    h.kafka,
    h.codec,
    h.prefix,
    'orders',
    [...campaign, ...few].map((o) => ({ key: o.orderId, value: o })),
  );
  return { campaign, few, seen, note, sent };
}

describe('scheduler with a fair share', () => {
  const { prefix, kafka, codec, due } = fairScheduler('sched-fair');

  it("paces a creator's campaign and lets another creator's few orders through at once", async () => {
    const { campaign, few, seen, note, sent } = await campaignAndFew({ kafka, codec, prefix, due }, 400);
    await due().waitFor(() => note() && few.every((o) => seen.has(o.orderId)), 10_000, 'the few orders');
    const fewDone = Math.max(...few.map((o) => seen.get(o.orderId)!));
    // the campaign's 400 at 100/s, 50 of them at once: about 3.5 s
    await due().waitFor(() => note() && campaign.every((o) => seen.has(o.orderId)), 20_000, 'the campaign');
    const campaignDone = Math.max(...campaign.map((o) => seen.get(o.orderId)!));
    expect(campaignDone - sent).toBeGreaterThan(3_000);
    expect(fewDone).toBeLessThan(campaignDone - 2_000);
    // paced, not held and let go together: in its middle second about 100 went
    const times = campaign.map((o) => seen.get(o.orderId)! - sent).sort((a, b) => a - b);
    const mid = times[200]!;
    const inSecond = times.filter((t) => t >= mid - 500 && t < mid + 500).length;
    expect(inSecond).toBeGreaterThan(60);
    expect(inSecond).toBeLessThan(160);
    expect(due().duplicated).toBe(0);
  });
});

describe('scheduler with a fair share, its senders behind', () => {
  // paced orders are held back while 50 or more emails wait for send-email
  const { prefix, kafka, codec, store, due } = fairScheduler('sched-gate', (deps) => ({
    email: new SendGate({ perSecond: 100, bound: 50, backlog: queueLag(deps, 'emailQueue', 'send-email') }),
  }));

  it('holds paced orders in the schedule while the send queue is over its bound, then lets them go at their pace', async () => {
    // 200 emails wait for send-email (its group has taken none)
    const queue = topicName(prefix, 'emailQueue');
    const producer = await kafka.plainProducer();
    await producer.send(
      Array.from({ length: 200 }, (_, i) => ({ topic: queue, key: `q${i}`, value: Buffer.from('x') })),
    );
    await producer.close();

    const { campaign, few, seen, note } = await campaignAndFew({ kafka, codec, prefix, due }, 150);
    const released = () => campaign.filter((o) => seen.has(o.orderId)).length;
    // the campaign's first half second at its pace (50) and the few go at once
    await due().waitFor(() => note() && few.every((o) => seen.has(o.orderId)) && released() >= 50, 10_000, 'unpaced');
    // the rest fall due by their pace within about a second more, and wait in the email lane:
    // nothing to await but time (their slots passing), so a bounded wait past the last slot
    await new Promise((r) => setTimeout(r, 2_500));
    note();
    expect(released()).toBeLessThan(60);
    expect((await store.backlog(Date.now())).gated).toBeGreaterThan(90);

    // send-email takes the queue: the gate opens, and the rest go at the pace, not all at once
    const drain = await kafka.transactionalProducer(`${prefix}drain`);
    await drain.init();
    await drain.commit([], { groupId: stageGroupId(prefix, 'send-email'), topic: queue, partition: 0, offset: '200' });
    await drain.close();
    const opened = Date.now();
    await due().waitFor(() => note() && released() === campaign.length, 20_000, 'the campaign');
    const times = campaign.map((o) => seen.get(o.orderId)!).filter((t) => t >= opened);
    expect(times.length).toBeGreaterThan(90);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(500);
    expect(due().duplicated).toBe(0);
  });
});

describe('scheduler process', () => {
  const TOTAL = 10_000;
  const prefix = uniquePrefix('schedkill');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '3' });
  const { kafka, codec } = testClients(config);
  afterAll(() => kafka.close());

  /**
   * The scheduler process on its own topics (`<prefix><name>`), SIGKILLed after 30 % of TOTAL
   * orders are out and restarted: every order released, none twice.
   */
  const killRun = async (
    name: string,
    env: Record<string, string>,
    order: (i: number) => Partial<ReturnType<typeof sampleOrder>>,
    label: string,
  ) => {
    const own = `${prefix}${name}`;
    const ownConfig = testConfig(own, { TOPIC_PARTITIONS: '3' });
    await provision(kafka, codec, ownConfig);
    const result = await killAndRestart({
      kafka,
      stages: ['scheduler'],
      env: { ...stageEnv(ownConfig), SCHEDULER_LEADER_TTL_MS: '2000', SCHEDULER_LEASE_MS: '5000', ...env },
      outputTopic: topicName(own, 'ordersDue'),
      collectorGroup: `${own}counter`,
      total: TOTAL,
      feed: (from, to) => produceOrders(kafka, codec, topicName(own, 'orders'), to, 1_000, order, from),
      label,
    });
    expect(result.atKill).toBeLessThan(TOTAL);
    expect(result).toMatchObject({ received: TOTAL, distinct: TOTAL, duplicated: 0 });
  };

  it('neither loses nor duplicates a release when SIGKILLed mid-release and restarted', async () => {
    // Send times spread over a few seconds, so releases are under way when the kill lands.
    const start = Date.now() + 3_000;
    await killRun(
      'spread-',
      { SCHEDULER_BATCH_SIZE: '200' },
      (i) => ({ requestedSendTime: start + Math.floor((i / TOTAL) * 4_000) }),
      'scheduler exactly-once',
    );
  });

  it('neither loses nor duplicates when every order is due already (passed on by the stage itself) and it is SIGKILLed', async () => {
    await killRun(
      'all-',
      {},
      () => ({ requestedSendTime: Date.now() - 1_000 }),
      'scheduler exactly-once, passing due orders',
    );
  });

  it('neither loses nor duplicates paced orders (held in the gated email lane) when SIGKILLed', async () => {
    // every order due already, one creator over its burst: 1,000 pass at once, the rest wait in
    // the email lane and are released at 2,000/s by its gate; after the kill the orders topic
    // is read again and paced anew, so an order may move between passing and the lane
    await killRun(
      'paced-',
      { FAIR_SHARE_EMAIL_PER_SECOND: '2000', FAIR_SHARE_BURST_SECONDS: '0.5' },
      () => ({ requestedSendTime: Date.now() - 1_000, creator: 'campaign' }),
      'scheduler exactly-once, paced orders',
    );
  });
});

describe('scheduler passing due orders on at once', () => {
  // The store as the stage sees it: its marks after a commit are lost (the window a crash
  // between the commit and the mark leaves).
  const lose = { passed: true };
  const lossy = (store: ScheduleStore) =>
    overriding(store, (prop) =>
      prop === 'passed' && lose.passed
        ? async () => Promise.reject(new Error('connection lost after commit'))
        : undefined,
    );
  const harness = stageWithReleaser({
    label: 'sched-pass',
    keyPrefix: 'orders:',
    name: 'scheduler',
    output: 'ordersDue',
    // short, so the test need not wait; a real one outlasts the stage's transaction timeout
    passLeaseMs: 1_500,
    deferralStore: lossy,
    stage: ({ clock }) => schedulerStage({ clock }),
  });
  const { prefix, kafka, codec, store } = harness;
  const due = harness.collecting('ordersDue');
  beforeAll(() => harness.start());
  afterAll(() => harness.stop());

  it('publishes each due order once: a record claims again what its aborted attempt claimed, the releaser settles lost marks and abandoned claims', async () => {
    const input = topicName(prefix, 'orders');
    const now = Date.now();
    const again = sampleOrder(1, { requestedSendTime: now - 1_000 });
    const abandoned = sampleOrder(2, { requestedSendTime: now - 1_000 });
    const plain = sampleOrder(3, { requestedSendTime: now - 1_000 });
    // (held as JSON, as values were before they were held as Avro: the releaser still reads it)
    const payload = (o: typeof again) => Buffer.from(JSON.stringify(o));
    // What attempts that never committed left behind: `again` was claimed by the very record that
    // comes first on this one-partition topic (offset 0); `abandoned` by another record, which
    // will not be read again.
    expect(await store.pass(again.orderId, again.requestedSendTime, payload(again), `${input}:0:0`, now)).toBe('pass');
    expect(await store.pass(abandoned.orderId, now - 1_000, payload(abandoned), `${input}:0:999`, now)).toBe('pass');
    await publish(
      kafka,
      codec,
      prefix,
      'orders',
      [again, abandoned, plain].map((o) => ({ key: o.orderId, value: o })),
    );
    const collector = due();
    await collector.waitFor(() => collector.distinct === 3, 30_000, 'all three released');
    // every mark after a commit was lost: the releaser finds the published ones on orders.due and
    // marks them released; the abandoned claim went back to the schedule and out through it
    await eventually(async () => (await store.counts()).final === 3, 'the releaser to settle every claim', 30_000);
    expect(await store.counts()).toEqual({ waiting: 0, leased: 0, passing: 0, final: 3 });
    await collector.readTo(await kafka.topicEndOffsets(topicName(prefix, 'ordersDue')), 30_000);
    expect(collector.total).toBe(3);
    expect(collector.duplicated).toBe(0);
    // a cancellation now finds them released
    expect(await store.cancel(plain.orderId, Date.now())).toBe('released');
  });

  it('marks what it passed on as released once its transaction commits', async () => {
    lose.passed = false;
    const o = sampleOrder(4, { requestedSendTime: Date.now() - 1_000 });
    await publish(kafka, codec, prefix, 'orders', [{ key: o.orderId, value: o }]);
    const collector = due();
    await collector.waitFor(() => collector.counts.has(o.orderId), 30_000, 'the release');
    await eventually(async () => (await store.counts()).final === 4, 'the mark after the commit', 5_000);
    expect(await store.cancel(o.orderId, Date.now())).toBe('released');
    expect((await store.counts()).passing).toBe(0);
  });
});

/**
 * A releaser whose acknowledgement is lost after Kafka committed its release re-verifies by
 * reading the output topic. With `heldOpen`, another producer's transaction, begun before the
 * release and never ended (the broker aborts it after its 8 s timeout), holds the topic's last stable
 * offset below the release: the read must wait for it rather than stop there and miss the release
 * (it did, and the chain queued 702 notifications twice in a chaos run). That wait outlasts the
 * leadership term, so a rival releaser of the same schedule runs beside it: the leader renews
 * its term while it reads, and the rival never takes the lock (it did: it fenced the leader,
 * which threw its read away, and the two took turns at the same read until the wait was over).
 */
function releaserRecovery(title: string, heldOpen: boolean) {
  describe(title, () => {
    const prefix = uniquePrefix(heldOpen ? 'schedopen' : 'schedack');
    const config = testConfig(prefix, { TOPIC_PARTITIONS: '2' });
    const { kafka, codec, logger } = testClients(config);
    const redis = testRedis();
    const store = new ScheduleStore(redis, `${prefix}orders:`);
    let failAcks = 1;
    // The store as the releaser sees it: its first acknowledgement fails after Kafka committed,
    // the exact window a crash between publish and acknowledgement leaves.
    const flaky = overriding(store, (prop) =>
      prop === 'ack'
        ? async (ids: string[], now: number, token?: string) => {
            if (failAcks-- > 0) throw new Error('connection lost after publish');
            return store.ack(ids, now, token);
          }
        : undefined,
    );
    // how long each of the leader's reconciliation reads took
    const reads: number[] = [];
    const timedKafka = overriding(kafka, (prop) =>
      prop === 'readSince'
        ? async (...args: Parameters<typeof kafka.readSince>) => {
            const t = Date.now();
            try {
              return await kafka.readSince(...args);
            } finally {
              reads.push(Date.now() - t);
            }
          }
        : undefined,
    );
    const options = {
      name: 'scheduler',
      output: 'ordersDue' as const,
      leaseMs: 5_000,
      batchSize: 50,
      lanes: 2,
      pollMs: 50,
      leaderTtlMs: 3_000,
      passLeaseMs: 45_000,
    };
    const deps = {
      codec,
      topicPrefix: prefix,
      // (every instance of a stage has the same client id: its releaser's transactional ids are the same)
      clientId: 'test',
      logger,
      registry: createRegistry(false),
      clock: Date.now,
    };
    const releaser = new Releaser({ ...deps, store: flaky, kafka: timedKafka }, options);
    // another instance's releaser, in its own Kafka client, as another process would be
    const rivalClients = heldOpen ? testClients(config) : null;
    const rival = rivalClients ? new Releaser({ ...deps, store, kafka: rivalClients.kafka }, options) : null;
    // every token seen holding the leadership while the rival runs
    const holders = new Set<string>();
    let out: Awaited<ReturnType<typeof collectKeys>> | null = null;

    beforeAll(async () => {
      await provision(kafka, codec, config);
      await codec.register();
    });
    afterAll(async () => {
      await releaser.close();
      await rival?.close();
      await rivalClients?.kafka.close();
      await out?.stop();
      await kafka.close();
      redis.disconnect();
    });

    it('finds releases that committed before an acknowledgement was lost, and does not publish them again', async () => {
      const due = topicName(prefix, 'ordersDue');
      if (heldOpen) {
        const client = new Kafka({
          brokers: stackEnv().KAFKA_BROKERS.split(','),
          clientId: 'holder',
          logLevel: logLevel.NOTHING,
        });
        const holder = client.producer({
          transactionalId: `${prefix}holder`,
          transactionTimeout: 8_000,
          idempotent: true,
          maxInFlightRequests: 1,
        });
        await holder.connect();
        // begun and left open: one record on each partition, the producer then gone
        const open = await holder.transaction();
        await open.send({ topic: due, messages: [0, 1].map((partition) => ({ partition, key: 'held', value: 'x' })) });
        await holder.disconnect();
      }
      const orders = Array.from({ length: 120 }, (_, i) => sampleOrder(i, { requestedSendTime: Date.now() - 1_000 }));
      for (const o of orders) await store.schedule(o.orderId, o.requestedSendTime, Buffer.from(JSON.stringify(o)));
      const collector = (out = await collectKeys(kafka, `${prefix}due`, due));
      releaser.start();
      let watching: NodeJS.Timeout | undefined;
      if (rival) {
        // started once the releaser holds the lock (it is leading, or about to: its first
        // acknowledgement fails at once, and it then takes the lead again, with the read)
        const lock = `${prefix}orders:{schedule}:leader`;
        let holder: string | null = null;
        await eventually(async () => (holder = await redis.get(lock)) !== null, 'the releaser holds the lock', 30_000);
        holders.add(holder!);
        rival.start();
        watching = setInterval(() => {
          redis.get(lock).then(
            (h) => void (h !== null && holders.add(h)),
            () => undefined,
          );
        }, 20);
      }
      await collector.waitFor(() => collector.distinct >= orders.length, 60_000, 'every order released');
      expect(failAcks).toBeLessThan(0);
      await eventually(
        async () => (await store.counts()).final === orders.length,
        'every release acknowledged',
        60_000,
      );
      clearInterval(watching);
      if (rival) {
        // the case this variant is for: the reconciliation's read waited past the leadership term
        // and the rival's next look for it (every third of the term)
        expect(Math.max(...reads)).toBeGreaterThan(options.leaderTtlMs * (4 / 3) + 1_000);
        expect(holders.size, 'the rival took the leadership from a leader that was reading').toBe(1);
      }
      await releaser.close();
      await collector.readTo(await kafka.topicEndOffsets(due), 30_000);
      expect(collector.distinct).toBe(orders.length);
      expect(collector.duplicated).toBe(0);
      expect(await store.counts()).toMatchObject({ waiting: 0, leased: 0, final: orders.length });
    }, 90_000);
  });
}
releaserRecovery('scheduler releaser recovery', false);
releaserRecovery('scheduler releaser recovery, another transaction open on its topic', true);
