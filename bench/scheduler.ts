/**
 * Release punctuality of the scheduler (`./dev bench --suite scheduler [--items N]`): N orders
 * whose send times are spread evenly over a window are fed through the scheduler stage and its
 * releaser; a read-committed consumer of orders.due notes when each one arrives. Lateness is
 * arrival minus send time, as a downstream stage would see it.
 */
import { randomUUID } from 'node:crypto';
import { createRegistry, createStageMetrics } from '../platform/metrics.ts';
import { ScheduleStore } from '../platform/redis/schedule-store.ts';
import { topicName } from '../platform/topics.ts';
import { StageRunner } from '../processors/runtime/runner.ts';
import { redisPrefix, stageDeps } from '../processors/runtime/wiring.ts';
import { scheduler } from '../processors/scheduler/index.ts';
import { produceOrders } from '../test/support/stack.ts';
import { benchClients, dropRun } from './support.ts';

export async function schedulerBench(N: number, spreadMs: number): Promise<void> {
  const { prefix, config, logger, kafka, codec } = await benchClients('sched');
  const registry = createRegistry(false);
  // the scheduler as ./dev up wires it: its deferrals, schedule store and releaser
  const deps = stageDeps({ config, kafka, codec, logger, registry });
  const bundle = scheduler.build(deps);
  const releaser = bundle.services[0]!;
  const store = new ScheduleStore(deps.redis(), `${redisPrefix(config)}orders:`);
  const runner = new StageRunner(bundle.stage, {
    kafka,
    codec,
    config,
    logger,
    metrics: createStageMetrics(registry),
    deferrals: bundle.deferrals!,
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
  await dropRun(prefix);
  deps.closeRedis();
}
