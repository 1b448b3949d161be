import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLAY_FOR_HEADER } from '../../platform/dead-letters.ts';
import { permanent, retriable } from '../../platform/errors.ts';
import type { ConsumerHandle, InboundRecord, KafkaAdapter } from '../../platform/kafka/adapter.ts';
import { createRegistry, createStageMetrics } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import type { DeadLetter } from '../../platform/schemas/generated/dead-letter.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { topicName } from '../../platform/topics.ts';
import { startOpsServer } from '../../processors/runtime/http.ts';
import { passthroughStage } from '../../processors/passthrough/stage.ts';
import { StageRunner } from '../../processors/runtime/runner.ts';
import { defineStage, emit, skip } from '../../processors/runtime/stage.ts';
import { publish, sampleOrder, testClients, testConfig, testRunner, uniquePrefix, until } from '../support/stack.ts';
import { collectKeys } from '../support/collector.ts';
import { overriding } from '../support/overriding.ts';

/**
 * `kafka` whose transactional producers fail the commits `fail` chooses, counted from 1 across
 * them: 'lost' before the commit is sent (it does not commit), 'unacknowledged' after it (it
 * committed, its caller hears an error).
 */
function failingCommits(kafka: KafkaAdapter, fail: (n: number) => 'lost' | 'unacknowledged' | null): KafkaAdapter {
  let commits = 0;
  return overriding(kafka, (prop) =>
    prop === 'transactionalProducer'
      ? async (id: string) => {
          const producer = await kafka.transactionalProducer(id);
          return {
            ...producer,
            commit: async (...args: Parameters<typeof producer.commit>) => {
              const how = fail(++commits);
              if (how === 'lost') throw new Error('connection to the broker lost');
              await producer.commit(...args);
              if (how === 'unacknowledged') throw new Error('connection lost after EndTxn');
            },
          };
        }
      : undefined,
  );
}

/**
 * A stage whose behaviour each order chooses through its sendersReference, so one stream
 * exercises every outcome the runtime must act on.
 */
const attempts = new Map<string, number>();
const scripted = defineStage({
  name: 'scripted',
  input: 'orders',
  outputs: ['ordersDue'],
  handle(order: NotificationOrder, ctx) {
    attempts.set(order.orderId, ctx.attempt);
    const ref = order.sendersReference ?? '';
    if (ref === 'invalid') throw permanent('INVALID_RECORD', 'recipient list is empty');
    if (ref.startsWith('flaky-')) {
      if (ctx.attempt <= Number(ref.slice(6))) throw retriable('DEPENDENCY_UNAVAILABLE', 'registry answered 503');
    }
    if (ref === 'down') throw retriable('DEPENDENCY_UNAVAILABLE', 'registry answered 503');
    if (ref === 'bug') throw new TypeError("Cannot read properties of undefined (reading 'x')");
    if (ref === 'skip') return skip('not for this stage');
    if (ref === 'stray') return emit({ topic: 'status', key: order.orderId, value: {} as never });
    return emit({ topic: 'ordersDue', key: order.orderId, value: order });
  },
});

describe('stage runtime', () => {
  const prefix = uniquePrefix('rt');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1', RETRY_MAX_ATTEMPTS: '3', UNEXPECTED_MAX_ATTEMPTS: '2' });
  const { kafka, codec, logger } = testClients(config);
  const registry = createRegistry(false);
  const metrics = createStageMetrics(registry);
  const runner = new StageRunner(scripted, { kafka, codec, config, logger, metrics });
  const out: InboundRecord[] = [];
  const dead: InboundRecord[] = [];
  const consumers: ConsumerHandle[] = [];
  let poke: () => void = () => undefined;

  beforeAll(async () => {
    await provision(kafka, codec, config);
    consumers.push(
      await kafka.collect({
        groupId: `${prefix}out`,
        topics: [topicName(prefix, 'ordersDue')],
        onRecord: (r) => (out.push(r), poke()),
      }),
      await kafka.collect({
        groupId: `${prefix}dlt`,
        topics: [topicName(prefix, 'deadLetter')],
        onRecord: (r) => (dead.push(r), poke()),
      }),
    );
    await runner.start();
    await runner.joined();
  });

  afterAll(async () => {
    await runner.close();
    for (const c of consumers) await c.stop();
    await kafka.close();
  });

  it('dead-letters a poison record with its reason and origin, and keeps going', async () => {
    const producer = await kafka.plainProducer();
    const input = topicName(prefix, 'orders');
    const orders = [
      sampleOrder(1),
      sampleOrder(2, { sendersReference: 'invalid' }),
      sampleOrder(3, { sendersReference: 'flaky-2' }),
      sampleOrder(4, { sendersReference: 'down' }),
      sampleOrder(5, { sendersReference: 'bug' }),
      sampleOrder(6, { sendersReference: 'skip' }),
      sampleOrder(7, { sendersReference: 'stray' }),
      sampleOrder(8),
    ];
    await producer.send([{ topic: input, key: orders[0]!.orderId, value: await codec.encode('orders', orders[0]!) }]);
    // Undecodable bytes: not the Confluent wire format at all.
    await producer.send([{ topic: input, key: 'poison-1', value: Buffer.from('{"not":"avro"}') }]);
    // Wire format with a schema id the registry has never issued.
    await producer.send([{ topic: input, key: 'poison-2', value: Buffer.from([0, 0x7f, 0xff, 0xff, 0x01, 0x02]) }]);
    for (const o of orders.slice(1)) {
      await producer.send([{ topic: input, key: o.orderId, value: await codec.encode('orders', o) }]);
    }
    await producer.close();

    const done = until(() => out.length >= 3 && dead.length >= 6, 60_000, '3 outputs and 6 dead letters');
    poke = done.poke;
    await done.done;

    const outKeys = out.map((r) => r.key?.toString());
    expect(outKeys).toEqual([orders[0]!.orderId, orders[2]!.orderId, orders[7]!.orderId]);
    expect(attempts.get(orders[2]!.orderId)).toBe(3);

    const letters = await Promise.all(dead.map((r) => codec.decode('deadLetter', r.value)));
    const byKey = new Map<string, DeadLetter>(letters.map((l) => [l.originalKey?.toString() ?? '', l]));
    const poison1 = byKey.get('poison-1')!;
    expect(poison1).toMatchObject({
      stage: 'scripted',
      errorCode: 'DECODE_FAILED',
      originalTopic: input,
      originalPartition: 0,
      originalOffset: 1,
      attempts: 1,
    });
    expect(poison1.reason).toMatch(/Confluent wire format/);
    expect(poison1.originalValue?.toString()).toBe('{"not":"avro"}');
    expect(byKey.get('poison-2')).toMatchObject({ errorCode: 'DECODE_FAILED', originalOffset: 2 });
    expect(byKey.get(orders[1]!.orderId)).toMatchObject({
      errorCode: 'INVALID_RECORD',
      reason: 'recipient list is empty',
    });
    expect(byKey.get(orders[3]!.orderId)).toMatchObject({ errorCode: 'RETRIES_EXHAUSTED', attempts: 3 });
    expect(byKey.get(orders[3]!.orderId)?.reason).toMatch(/gave up after 3 attempts: registry answered 503/);
    expect(byKey.get(orders[4]!.orderId)).toMatchObject({ errorCode: 'UNEXPECTED', attempts: 2 });
    expect(byKey.get(orders[6]!.orderId)?.reason).toMatch(/emitted to status, which it does not declare/);
    expect(byKey.has(orders[5]!.orderId)).toBe(false);

    const text = await registry.metrics();
    expect(text).toMatch(/pipeline_records_consumed_total\{stage="scripted",topic="[^"]+"\} 10/);
    expect(text).toMatch(/pipeline_records_dead_lettered_total\{stage="scripted",code="DECODE_FAILED"\} 2/);
    expect(text).toMatch(/pipeline_records_retried_total\{stage="scripted",code="DEPENDENCY_UNAVAILABLE"\} 4/);
    expect(text).toMatch(/pipeline_handler_duration_seconds_count\{stage="scripted"\} \d+/);
    await runner.sampleLag();
    expect(await registry.metrics()).toMatch(/pipeline_consumer_lag\{stage="scripted",topic="[^"]+",partition="0"\} 0/);
  });

  it('serves /health, /health/live and /metrics', async () => {
    const ops = await startOpsServer(0, '127.0.0.1', registry, {
      ready: () => ({ ok: false, stages: [runner.health()], services: [{ name: 'smpp-session', ok: false }] }),
      live: () => {
        const h = runner.health();
        return { ok: h.ok, stages: [h] };
      },
    });
    try {
      const ready = await fetch(`http://127.0.0.1:${ops.port}/health`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ ok: false, services: [{ name: 'smpp-session', ok: false }] });
      const health = await fetch(`http://127.0.0.1:${ops.port}/health/live`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ ok: true, stages: [{ stage: 'scripted', ok: true }] });
      const m = await fetch(`http://127.0.0.1:${ops.port}/metrics`);
      expect(await m.text()).toContain('pipeline_transaction_duration_seconds_bucket');
    } finally {
      ops.server.close();
    }
  });
});

describe('stage runtime with large records', () => {
  const prefix = uniquePrefix('big');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1', MAX_RECORD_BYTES: '300000' });
  const { kafka, codec, logger } = testClients(config);
  // Fan-out, as resolve-channel does: one input becomes five outputs of the same size.
  const fanout = defineStage({
    name: 'fanout',
    input: 'orders',
    outputs: ['ordersDue'],
    handle: (order: NotificationOrder) =>
      emit(
        ...[0, 1, 2, 3, 4].map((i) => ({ topic: 'ordersDue' as const, key: `${order.orderId}-${i}`, value: order })),
      ),
  });
  const runner = testRunner(fanout, { kafka, codec, logger, config });
  let out: Awaited<ReturnType<typeof collectKeys>> | null = null;
  let dlt: Awaited<ReturnType<typeof collectKeys>> | null = null;

  beforeAll(async () => {
    await provision(kafka, codec, config);
    out = await collectKeys(kafka, `${prefix}out`, topicName(prefix, 'ordersDue'));
    dlt = await collectKeys(kafka, `${prefix}dlt`, topicName(prefix, 'deadLetter'));
  });
  afterAll(async () => {
    await runner.close();
    await out?.stop();
    await dlt?.stop();
    await kafka.close();
  });

  it('splits transactions by size, so fanned-out output beyond what the broker takes in one batch still flows', async () => {
    const body = (kb: number) => 'x'.repeat(kb * 1024);
    const orders = Array.from({ length: 6 }, (_, i) =>
      sampleOrder(i, { emailTemplate: { fromAddress: 'a@b.no', subject: 's', body: body(100), contentType: 'Plain' } }),
    );
    const huge = sampleOrder(99, {
      emailTemplate: { fromAddress: 'a@b.no', subject: 's', body: body(400), contentType: 'Plain' },
    });
    // Inputs fit one fetch (about 1 MB); their 30 outputs (3 MB) do not fit one produce batch.
    for (const o of [...orders, huge]) await publish(kafka, codec, prefix, 'orders', [{ key: o.orderId, value: o }]);
    await runner.start();
    await out!.waitFor(() => out!.distinct >= orders.length * 5, 60_000, 'thirty 100 KB records');
    await dlt!.waitFor(() => dlt!.total >= 1, 60_000, 'the 400 KB record dead-lettered');
    expect([...out!.counts.keys()].some((k) => k.startsWith(huge.orderId))).toBe(false);
    expect(out!.duplicated).toBe(0);
  });
});

describe.each([
  ['partition', { TOPIC_PARTITIONS: '1', TRANSACTION_SCOPE: 'partition' }],
  // (three partitions: transactions span them)
  ['instance', { TOPIC_PARTITIONS: '3', TRANSACTION_SCOPE: 'instance' }],
])('stage runtime with failing transactions, transactions per %s', (scope, settings) => {
  const prefix = uniquePrefix(`txfail-${scope}`);
  const config = testConfig(prefix, settings);
  const clients = testClients(config);
  const { codec, logger } = clients;
  // Transactions 3 and 7 fail without committing (the connection dropped before EndTxn), and
  // transaction 11 commits but its caller hears an error: while each of them was under way, the
  // consumer had already moved on to the next batch, so the stage must go back to what is
  // committed, neither skipping the lost records nor repeating the committed ones.
  const injected: string[] = [];
  const kafka = failingCommits(clients.kafka, (n) => {
    const how = n === 3 || n === 7 ? 'lost' : n === 11 ? 'unacknowledged' : null;
    if (how) injected.push(`${how} ${n}`);
    return how;
  });
  const runner = testRunner(passthroughStage('orders', 'ordersDue'), { kafka, codec, logger, config });
  let out: Awaited<ReturnType<typeof collectKeys>> | null = null;

  beforeAll(async () => {
    await provision(clients.kafka, codec, config);
    out = await collectKeys(clients.kafka, `${prefix}out`, topicName(prefix, 'ordersDue'));
    await runner.start();
    await runner.joined();
  });
  afterAll(async () => {
    await runner.close();
    await out?.stop();
    await clients.kafka.close();
  });

  it('goes back to the committed offset after a transaction fails behind the next batch: nothing lost, nothing twice', async () => {
    const N = 1_000;
    // in waves of two quick sends, so the stage sees many batches and commits each behind the next
    for (let start = 0; start < N; start += 50) {
      for (const from of [start, start + 25]) {
        await publish(
          clients.kafka,
          codec,
          prefix,
          'orders',
          Array.from({ length: 25 }, (_, i) => {
            const o = sampleOrder(from + i);
            return { key: o.orderId, value: o };
          }),
        );
      }
      await out!.waitFor(() => out!.distinct >= start + 50, 60_000, `${start + 50} distinct records`);
    }
    await out!.waitFor(() => out!.distinct >= N, 120_000, `${N} distinct records`);
    // whatever was still on its way has landed: the collector reads committed records only
    await publish(clients.kafka, codec, prefix, 'orders', [{ key: 'last', value: sampleOrder(N) }]);
    await out!.waitFor(() => out!.counts.has('last'), 60_000, 'the last record');
    expect(injected).toEqual(['lost 3', 'lost 7', 'unacknowledged 11']);
    expect(out!.distinct).toBe(N + 1);
    expect(out!.duplicated).toBe(0);
  });
});

describe('stage runtime with failing transactions and records still in their handlers', () => {
  const prefix = uniquePrefix('txinflight');
  // two inputs per transaction, so commits happen inside a batch while the window is full
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1', TRANSACTION_MAX_RECORDS: '2' });
  const clients = testClients(config);
  const { codec, logger } = clients;
  const injected: number[] = [];
  const kafka = failingCommits(clients.kafka, (n) => {
    if (n % 5 !== 3 || injected.length >= 5) return null;
    injected.push(n);
    return 'lost';
  });
  // A sender's shape: four records in their handlers at once, each a hand-over that takes a
  // while. A record handled again while its first handling is still under way is what a sender
  // must report failed (its ledger shows the hand-over begun, its outcome not yet known).
  const running = new Set<string>();
  const overlaps: string[] = [];
  let handled = 0;
  const slow = defineStage({
    name: 'slow',
    input: 'orders',
    outputs: ['ordersDue'],
    concurrency: 4,
    async handle(order: NotificationOrder) {
      if (running.has(order.orderId)) overlaps.push(order.orderId);
      running.add(order.orderId);
      handled++;
      try {
        // the hand-over: a server's answer a while later (longer than the consumer's own pause
        // before it reads a partition again after a failed batch, as under load)
        await new Promise((resolve) => setTimeout(resolve, 500 + (handled % 5) * 250));
      } finally {
        running.delete(order.orderId);
      }
      return emit({ topic: 'ordersDue', key: order.orderId, value: order });
    },
  });
  const runner = testRunner(slow, { kafka, codec, logger, config });
  let out: Awaited<ReturnType<typeof collectKeys>> | null = null;

  beforeAll(async () => {
    await provision(clients.kafka, codec, config);
    out = await collectKeys(clients.kafka, `${prefix}out`, topicName(prefix, 'ordersDue'));
    await runner.start();
    await runner.joined();
  });
  afterAll(async () => {
    await runner.close();
    await out?.stop();
    await clients.kafka.close();
  });

  it('lets the records still in their handlers finish before the partition is read again', async () => {
    const N = 80;
    await publish(
      clients.kafka,
      codec,
      prefix,
      'orders',
      Array.from({ length: N }, (_, i) => {
        const o = sampleOrder(i);
        return { key: o.orderId, value: o };
      }),
    );
    await out!.waitFor(() => out!.distinct >= N, 120_000, `${N} distinct records`);
    expect(injected.length).toBeGreaterThanOrEqual(3);
    // every failed transaction's records were handled again, none while still in its handler
    expect(handled).toBeGreaterThan(N);
    expect(overlaps).toEqual([]);
    expect(out!.duplicated).toBe(0);
  });
});

describe('stage runtime consumer lag', () => {
  const prefix = uniquePrefix('lag');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1' });
  const { kafka, codec, logger } = testClients(config);
  const registry = createRegistry(false);
  // a stage that stalls on its first record until let go, as one waiting on a dead dependency
  let letGo!: () => void;
  const stalled = new Promise<void>((resolve) => (letGo = resolve));
  const stage = defineStage({
    name: 'stalling',
    input: 'orders',
    outputs: ['ordersDue'],
    async handle(value: NotificationOrder, ctx) {
      await stalled;
      return emit({ topic: 'ordersDue', key: ctx.key ?? '', value });
    },
  });
  const runner = testRunner(stage, { kafka, codec, logger, config }, registry);
  const lag = async () => {
    await runner.sampleLag();
    const m = /pipeline_consumer_lag\{stage="stalling",topic="[^"]+",partition="0"\} (\d+)/.exec(
      await registry.metrics(),
    );
    return m ? Number(m[1]) : null;
  };

  beforeAll(async () => {
    await provision(kafka, codec, config);
    await runner.start();
    await runner.joined();
  });
  afterAll(async () => {
    letGo();
    await runner.close();
    await kafka.close();
  });

  it('rises while the stage is stalled, and is 0 once it has caught up, transaction markers not counted', async () => {
    // the input written in transactions, as every stage writes: each ends with a marker offset
    await codec.register(['orders']);
    const producer = await kafka.transactionalProducer(`${prefix}lag-input`);
    await producer.init();
    for (let t = 0; t < 3; t++) {
      const records = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const o = sampleOrder(t * 10 + i);
          return { topic: topicName(prefix, 'orders'), key: o.orderId, value: await codec.encode('orders', o) };
        }),
      );
      await producer.commit(records);
    }
    await producer.close();
    // 30 records and 3 markers on the partition; the stage holds its first batch
    await expect.poll(lag, { timeout: 30_000 }).toBeGreaterThanOrEqual(30);
    letGo();
    // caught up: the markers it passed are not lag
    await expect.poll(lag, { timeout: 60_000, interval: 200 }).toBe(0);
    // and its one partition is held, by this instance
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/^pipeline_input_partitions\{stage="stalling",topic="[^"]+"\} 1$/m);
    expect(metrics).toMatch(/^pipeline_partitions_assigned\{stage="stalling",topic="[^"]+"\} 1$/m);
  });
});

describe('stage runtime and replayed dead letters', () => {
  const prefix = uniquePrefix('replayfor');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1' });
  const { kafka, codec, logger } = testClients(config);
  const runner = testRunner(passthroughStage('orders', 'ordersDue'), { kafka, codec, logger, config });
  let out: Awaited<ReturnType<typeof collectKeys>> | null = null;

  beforeAll(async () => {
    await provision(kafka, codec, config);
    out = await collectKeys(kafka, `${prefix}out`, topicName(prefix, 'ordersDue'));
    await runner.start();
    await runner.joined();
  });
  afterAll(async () => {
    await runner.close();
    await out?.stop();
    await kafka.close();
  });

  it('handles a record replayed for it, and passes by one replayed for another stage of the topic', async () => {
    await codec.register(['orders']);
    const [plain, forMe, forOther, last] = [0, 1, 2, 3].map((i) => sampleOrder(i));
    const producer = await kafka.plainProducer();
    const record = async (o: NotificationOrder, replayFor?: string) => ({
      topic: topicName(prefix, 'orders'),
      key: o.orderId,
      value: await codec.encode('orders', o),
      ...(replayFor ? { headers: { [REPLAY_FOR_HEADER]: replayFor } } : {}),
    });
    await producer.send([
      await record(plain!),
      await record(forMe!, 'passthrough'),
      await record(forOther!, 'scheduler'),
      await record(last!),
    ]);
    await producer.close();
    // one partition, in order: once the last is out, the one before it was passed by
    await out!.waitFor(() => out!.counts.has(last!.orderId), 30_000, 'the last record');
    expect([...out!.counts.keys()].sort()).toEqual([plain!.orderId, forMe!.orderId, last!.orderId].sort());
  });
});
