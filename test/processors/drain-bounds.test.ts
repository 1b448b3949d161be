import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KafkaAdapter, TransactionalProducer } from '../../platform/kafka/adapter.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRegistry, createStageMetrics } from '../../platform/metrics.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import { passthroughStage } from '../../processors/passthrough/stage.ts';
import { StageRunner } from '../../processors/runtime/runner.ts';
import type { PartitionLink } from '../../processors/runtime/transactions.ts';
import { oneRecordBatch } from '../support/fake-batch.ts';
import { testConfig, uniquePrefix } from '../support/stack.ts';

type Options = Parameters<KafkaAdapter['batchConsumer']>[0];
const never = new Promise<never>(() => undefined);

/**
 * A drain must end within its budget whatever Kafka does. CI's chaos run saw a status-view
 * instance's SIGTERM drain run past its 20 s: the instance was still verifying a partition (its
 * producer's InitProducerId, then a stable committed-offset read, retried while a coordinator
 * was busy) when the stop came, and the consumer's stop waits for the batch in hand. (Unit: a
 * fake adapter whose Kafka calls never answer; fake timers, so a wait on the budget shows.)
 */
describe('a stage runner asked to close', () => {
  afterEach(() => void vi.useRealTimers());

  const setup = (producer: Partial<TransactionalProducer>, consumerStop?: () => Promise<void>) => {
    const lines: { msg: string; waitingFor?: string }[] = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) },
    });
    let options: Options | null = null;
    let inBatch: Promise<void> = Promise.resolve();
    let beats = 0;
    const kafka = {
      batchConsumer: async (o: Options) => {
        options = o;
        // as kafkajs does: a stop waits for the batch in hand, then leaves the group
        return { stop: consumerStop ?? (() => inBatch), joined: Promise.resolve() };
      },
      transactionalProducer: async (transactionalId: string) =>
        ({ transactionalId, close: async () => undefined, ...producer }) as TransactionalProducer,
      committedOffset: async () => '0',
    } as unknown as KafkaAdapter;
    const codec = { register: async () => undefined } as unknown as AvroCodec;
    const prefix = uniquePrefix('drainbound');
    const runner = new StageRunner(passthroughStage('orders', 'ordersDue'), {
      kafka,
      codec,
      logger,
      config: testConfig(prefix),
      metrics: createStageMetrics(createRegistry(false)),
    });
    const batch = oneRecordBatch(`${prefix}altinn.notifications.orders`, { heartbeat: async () => void beats++ });
    const deliver = () => {
      inBatch = options!.eachBatch(batch);
      return inBatch;
    };
    return { runner, lines, deliver, beats: () => beats };
  };

  it('gives up a partition it is still verifying at once, and the batch in hand returns', async () => {
    vi.useFakeTimers();
    // InitProducerId that Kafka never answers
    const { runner, lines, deliver } = setup({ init: () => never });
    await runner.start();
    const handling = deliver();
    await vi.advanceTimersByTimeAsync(0);
    expect(lines.map((l) => l.msg)).toContain('verifying partition');

    let closed = false;
    void runner.close(60_000).then(() => (closed = true));
    let returned = false;
    void handling.then(() => (returned = true));
    // no time passes: nothing waited on the budget
    await vi.advanceTimersByTimeAsync(0);
    expect(returned).toBe(true);
    expect(closed).toBe(true);
    expect(lines.map((l) => l.msg)).not.toContain('partition verified');
    expect(lines.filter((l) => l.msg.startsWith('drain gave up'))).toEqual([]);
  });

  it('heartbeats while a partition is verified, so a slow verification does not cost the member its place in the group', async () => {
    vi.useFakeTimers();
    const { runner, deliver, beats } = setup({ init: () => never });
    await runner.start();
    void deliver();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(beats()).toBeGreaterThanOrEqual(3);
    await runner.close(1_000);
    const after = beats();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(beats()).toBe(after);
  });

  it('abandons, within its budget, a commit and a group leave that Kafka never answers', async () => {
    vi.useFakeTimers();
    const { runner, lines } = setup({ init: async () => undefined }, () => never);
    await runner.start();
    // a partition whose last transaction is still committing
    const partitions = (runner as unknown as { partitions: Map<string, PartitionLink> }).partitions;
    partitions.set('t:0', { producer: null, verified: true, tail: never, generation: 0, floor: null });

    let closed = false;
    void runner.close(10_000).then(() => (closed = true));
    await vi.advanceTimersByTimeAsync(4_900);
    expect(closed).toBe(false); // half the budget for the commits
    await vi.advanceTimersByTimeAsync(5_200);
    expect(closed).toBe(true);
    expect(lines.filter((l) => l.msg.startsWith('drain gave up')).map((l) => l.waitingFor)).toEqual([
      'commits under way',
      'the consumer to leave its group',
      'commits under way',
    ]);
    expect(lines.map((l) => l.msg)).toContain('stage stopped');
  });
});
