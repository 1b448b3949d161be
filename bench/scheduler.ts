/**
 * Release punctuality of the scheduler (`./dev bench --suite scheduler [--items N]`): N orders
 * whose send times are spread evenly over a window are fed through the scheduler stage and its
 * releaser; a read-committed consumer of orders.due notes when each one arrives. Lateness is
 * arrival minus send time, as a downstream stage would see it.
 */
import { randomUUID } from 'node:crypto';
import { createRegistry, createStageMetrics } from '../platform/metrics.ts';
import { createRedis } from '../platform/redis/client.ts';
import { ScheduleStore } from '../platform/redis/schedule-store.ts';
import { topicName } from '../platform/topics.ts';
import { StageRunner } from '../processors/runtime/runner.ts';
import { Releaser } from '../processors/scheduler/releaser.ts';
import { schedulerStage } from '../processors/scheduler/stage.ts';
import { produceOrders } from '../test/support/stack.ts';
import { benchClients } from './support.ts';

export async function schedulerBench(N: number, spreadMs: number): Promise<void> {
  const { prefix, config, logger, kafka, codec } = await benchClients('sched');
  const redis = createRedis(config.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const registry = createRegistry(false);
  const store = new ScheduleStore(redis, `${prefix}orders:`);
  const releaser = new Releaser(
    { store, kafka, codec, topicPrefix: prefix, clientId: 'bench', logger, registry, clock: Date.now },
    {
      name: 'scheduler',
      output: 'ordersDue',
      leaseMs: config.SCHEDULER_LEASE_MS,
      batchSize: config.SCHEDULER_BATCH_SIZE,
      lanes: config.SCHEDULER_RELEASE_LANES,
      pollMs: config.SCHEDULER_POLL_MS,
      leaderTtlMs: config.SCHEDULER_LEADER_TTL_MS,
      passLeaseMs: config.SCHEDULER_PASS_LEASE_MS,
    },
  );
  const runner = new StageRunner(schedulerStage({ store, clock: Date.now, onDue: () => releaser.wake() }), {
    kafka,
    codec,
    config,
    logger,
    metrics: createStageMetrics(registry),
  });

  // Send times begin after a lead long enough to feed every order into the schedule first.
  const leadMs = Math.max(15_000, N / 4);
  const due = new Map<string, number>();
  const lateness: number[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const consumer = await kafka.collect({
    groupId: `${prefix}punctuality`,
    topics: [topicName(prefix, 'ordersDue')],
    onRecord: (r) => {
      const at = due.get(r.key?.toString() ?? '');
      if (at === undefined) return;
      lateness.push(Date.now() - at);
      if (lateness.length === N) done();
    },
  });
  await runner.start();
  releaser.start();
  await runner.joined();

  const start = Date.now() + leadMs;
  const fed0 = performance.now();
  await produceOrders(kafka, codec, topicName(prefix, 'orders'), N, 2_000, (i) => {
    const orderId = randomUUID();
    const requestedSendTime = start + Math.floor((i / N) * spreadMs);
    due.set(orderId, requestedSendTime);
    return { orderId, requestedSendTime };
  });
  const fedSeconds = (performance.now() - fed0) / 1000;
  await finished;
  const sorted = [...lateness].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  const counts = await store.counts();

  console.log('');
  console.log(
    `scheduled orders:           ${N}, send times spread over ${spreadMs / 1000} s (${Math.round(N / (spreadMs / 1000))}/s)`,
  );
  console.log(`fed to the orders topic in: ${fedSeconds.toFixed(1)} s`);
  console.log(`release lateness p50:       ${pct(50)} ms`);
  console.log(`release lateness p99:       ${pct(99)} ms  (target < 1000 ms)`);
  console.log(`release lateness max:       ${sorted.at(-1)} ms; released early: ${sorted.filter((l) => l < 0).length}`);
  console.log(`left in the schedule:       ${counts.waiting} waiting, ${counts.leased} leased`);

  await releaser.close();
  await runner.close();
  await consumer.stop();
  await kafka.close();
  redis.disconnect();
}
