/**
 * The scheduler's once-only claim of a due order, alone (`./dev bench --suite claim [--items N]`):
 * N due orders claimed through `ScheduleStore.passMany` in runs of 200 (about a batch of the
 * chain's) for a record each, as the scheduler's stage claims them, then acknowledged
 * (`passed`) as after their transaction's commit; each phase timed, with the CPU it cost this
 * process and Redis (Redis' own count, `INFO cpu`). Side by side, the same with an empty payload
 * in place of each order's Avro (the registry's framing and the order, as the store holds it):
 * what the payload costs the claim. The layout suite measures what the claim costs the chain's
 * throughput; this says where it goes. Nothing else runs: on a busy machine the figures grow.
 */
import { heldValues } from '../processors/runtime/deferral.ts';
import { ScheduleStore } from '../platform/redis/schedule-store.ts';
import { createRedis, redisConnection, type Redis } from '../platform/redis/client.ts';
import { sampleOrder } from '../test/support/stack.ts';
import { benchClients, benchLogger, dropRun } from './support.ts';

/** items per `passMany` and `passed`: about what one of the chain's batches claims */
const RUN = 200;

interface Phase {
  /** wall-clock µs per item */
  wall: number;
  /** this process's CPU µs per item */
  cpu: number;
  /** Redis' CPU µs per item */
  redis: number;
}

export async function claimBench(N: number): Promise<void> {
  const { prefix, config, kafka, codec } = await benchClients('claim');
  const redis = createRedis(redisConnection(config), benchLogger);
  try {
    const held = heldValues(codec, 'ordersDue');
    const orders = Array.from({ length: N }, (_, i) => sampleOrder(i, { requestedSendTime: Date.now() - 1000 }));
    const payloads = orders.map((o) => held.encode(o));
    const bytes = payloads.reduce((n, p) => n + p.length, 0) / N;
    // a warm-up run of each, on a store of its own (scripts loaded, connection warm)
    await run(redis, `${prefix}warm-a:`, orders.slice(0, 2 * RUN), payloads.slice(0, 2 * RUN));
    await run(redis, `${prefix}warm-b:`, orders.slice(0, 2 * RUN), null);
    // in turn, twice, so neither always runs first
    const withPayload: [Phase, Phase][] = [];
    const empty: [Phase, Phase][] = [];
    for (const round of [1, 2]) {
      withPayload.push(await run(redis, `${prefix}p${round}:`, orders, payloads));
      empty.push(await run(redis, `${prefix}e${round}:`, orders, null));
    }
    const mean = (xs: [Phase, Phase][], i: 0 | 1, k: keyof Phase) => xs.reduce((n, x) => n + x[i][k], 0) / xs.length;
    const line = (what: string, xs: [Phase, Phase][], i: 0 | 1) =>
      console.log(
        `${what.padEnd(44)} ${mean(xs, i, 'wall').toFixed(1).padStart(8)} ${mean(xs, i, 'cpu').toFixed(1).padStart(12)} ` +
          `${mean(xs, i, 'redis').toFixed(1).padStart(10)}`,
      );
    console.log(
      `items: ${N} due orders, claimed and acknowledged in runs of ${RUN}; payload ${bytes.toFixed(0)} bytes ` +
        `(an order's framed Avro); means of 2 runs each, in turn`,
    );
    console.log(
      `${'µs per item'.padEnd(44)} ${'wall'.padStart(8)} ${'this process'.padStart(12)} ${'Redis'.padStart(10)}`,
    );
    line('claim (passMany), with the payload', withPayload, 0);
    line('claim (passMany), empty payload', empty, 0);
    line('acknowledgement (passed), with the payload', withPayload, 1);
    line('acknowledgement (passed), empty payload', empty, 1);
    const total = (xs: [Phase, Phase][], k: keyof Phase) => mean(xs, 0, k) + mean(xs, 1, k);
    console.log(
      `the payload's share of claim and acknowledgement: wall ${(1 - total(empty, 'wall') / total(withPayload, 'wall')).toFixed(2)}, ` +
        `Redis' CPU ${(1 - total(empty, 'redis') / total(withPayload, 'redis')).toFixed(2)}, ` +
        `this process's ${(1 - total(empty, 'cpu') / total(withPayload, 'cpu')).toFixed(2)}`,
    );
  } finally {
    redis.disconnect();
    await kafka.close();
    await dropRun(prefix);
  }
}

/** Claims every order for a record of its own, then acknowledges them: each phase's cost per item. */
async function run(
  redis: Redis,
  storePrefix: string,
  orders: ReturnType<typeof sampleOrder>[],
  payloads: Buffer[] | null,
): Promise<[Phase, Phase]> {
  const store = new ScheduleStore(redis, storePrefix);
  const none = Buffer.alloc(0);
  const items = orders.map((o, i) => ({
    id: o.orderId,
    dueAt: o.requestedSendTime,
    payload: payloads ? payloads[i]! : none,
    source: `orders:${i % 6}:${i}`,
  }));
  const claim = await timed(redis, items.length, async () => {
    for (let i = 0; i < items.length; i += RUN) {
      const results = await store.passMany(items.slice(i, i + RUN), Date.now());
      if (results.some((r) => r !== 'pass')) throw new Error(`a claim was refused: ${results.join(', ')}`);
    }
  });
  const ack = await timed(redis, items.length, async () => {
    for (let i = 0; i < items.length; i += RUN) {
      const n = await store.passed(
        items.slice(i, i + RUN).map((x) => x.id),
        Date.now(),
      );
      if (n !== Math.min(RUN, items.length - i)) throw new Error(`only ${n} of a run were acknowledged`);
    }
  });
  return [claim, ack];
}

async function timed(redis: Redis, n: number, work: () => Promise<void>): Promise<Phase> {
  const redis0 = await redisCpuSeconds(redis);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const redisCpu = (await redisCpuSeconds(redis)) - redis0;
  return { wall: (wall * 1000) / n, cpu: (cpu.user + cpu.system) / n, redis: (redisCpu * 1e6) / n };
}

/** Redis' own CPU so far (its main thread and the rest: `used_cpu_user` + `used_cpu_sys`), seconds */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}
