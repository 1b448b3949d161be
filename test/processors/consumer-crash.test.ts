import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KafkaAdapter } from '../../platform/kafka/adapter.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRegistry, createStageMetrics } from '../../platform/metrics.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import { passthroughStage } from '../../processors/passthrough/stage.ts';
import { StageRunner } from '../../processors/runtime/runner.ts';
import { testConfig, uniquePrefix } from '../support/stack.ts';

/**
 * kafkajs does not restart a consumer that crashed on an error it takes for non-retriable (a
 * broker restart can give "Failed to find group coordinator"): the stage stopped for good, and
 * the broker-restart test saw no order emailed in about one run in fifteen. The runner replaces
 * such a consumer itself. (Unit: a fake adapter records the consumers made; fake timers.)
 */
type Options = Parameters<KafkaAdapter['batchConsumer']>[0];

/** A passthrough stage's runner on a fake adapter that makes consumers as `kafka` says. */
function runnerOn(kafka: Pick<KafkaAdapter, 'batchConsumer'>): StageRunner {
  return new StageRunner(passthroughStage('orders', 'ordersDue'), {
    kafka: kafka as unknown as KafkaAdapter,
    codec: { register: async () => undefined } as unknown as AvroCodec,
    logger: createLogger({ level: 'silent' }),
    config: testConfig(uniquePrefix('crash')),
    metrics: createStageMetrics(createRegistry(false)),
  });
}

describe('a stage whose consumer crashed for good', () => {
  afterEach(() => void vi.useRealTimers());

  it('gets a new consumer after a backoff, and is healthy again', async () => {
    vi.useFakeTimers();
    const made: Options[] = [];
    const stopped: number[] = [];
    const runner = runnerOn({
      batchConsumer: async (o: Options) => {
        const i = made.push(o) - 1;
        return { stop: async () => void stopped.push(i), joined: Promise.resolve() };
      },
    });
    await runner.start();
    expect(made).toHaveLength(1);
    expect(runner.health().ok).toBe(true);

    // a crash kafkajs restarts by itself changes nothing here
    made[0]!.onCrash!(new Error('Connection error'), true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(made).toHaveLength(1);

    made[0]!.onCrash!(new Error('Failed to find group coordinator'), false);
    expect(runner.health()).toMatchObject({ ok: false, error: 'Failed to find group coordinator' });
    await vi.advanceTimersByTimeAsync(2_500);
    expect(stopped).toEqual([0]);
    expect(made).toHaveLength(2);
    expect(runner.health().ok).toBe(true);
    await runner.close();
  });

  it('is alive, not ready, while its tries to replace the consumer keep ending, and not alive once one never ends', async () => {
    vi.useFakeTimers();
    // (the limit's default, 2 minutes)
    const made: Options[] = [];
    let refuse: 'fail' | 'hang' = 'fail';
    const runner = runnerOn({
      batchConsumer: async (o: Options) => {
        made.push(o);
        if (made.length === 1) return { stop: async () => undefined, joined: Promise.resolve() };
        if (refuse === 'fail') throw new Error('Connection error: connect ECONNREFUSED');
        return new Promise(() => undefined);
      },
    });
    await runner.start();
    made[0]!.onCrash!(new Error('Failed to find group coordinator'), false);
    // Kafka refuses every try for ten minutes: tries at 1, 2, 4, … 30 s apart
    for (let minute = 0; minute < 10; minute++) {
      await vi.advanceTimersByTimeAsync(60_000);
      expect(runner.health(undefined, true)).toMatchObject({ ok: true, waitingOn: 'kafka' });
      expect(runner.health()).toMatchObject({ ok: false, error: 'Failed to find group coordinator' });
    }
    expect(made.length).toBeGreaterThan(20);
    // the next try never ends: 2 minutes on, the liveness fails too
    refuse = 'hang';
    await vi.advanceTimersByTimeAsync(35_000);
    const tries = made.length;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(made.length).toBe(tries);
    expect(runner.health(undefined, true)).toMatchObject({ ok: false, error: 'Failed to find group coordinator' });
    expect(runner.health(undefined, true).waitingOn).toBeUndefined();
    await runner.close();
  });

  // The process says "stages running" once every stage's consumer has joined. It awaited the
  // first consumer's join: when that one crashed for good before joining (a rolling restart
  // under load), its replacement joined and ran, but the process never said so.
  it('counts as joined when the consumer that replaced a crashed one joins', async () => {
    vi.useFakeTimers();
    const made: Options[] = [];
    const runner = runnerOn({
      batchConsumer: async (o: Options) => {
        made.push(o);
        // joined only when the test says so, as the real one on GROUP_JOIN (onAssignment)
        return { stop: async () => undefined, joined: new Promise<void>(() => undefined) };
      },
    });
    await runner.start();
    let joined = false;
    void runner.joined().then(() => (joined = true));

    made[0]!.onCrash!(new Error('Failed to find group coordinator'), false);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(made).toHaveLength(2);
    expect(joined).toBe(false);

    made[1]!.onAssignment!({ [made[1]!.topics[0]!]: [0, 1] }, { generationId: 1, memberId: 'm' });
    await vi.advanceTimersByTimeAsync(0);
    expect(joined).toBe(true);
    await runner.close();
  });
});
