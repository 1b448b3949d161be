/**
 * Deployment layouts (`./dev bench --suite layout [--records N] [--instances I]`): the chain
 * (scheduler with its releaser, enrich-recipients, evaluate-condition, resolve-channel,
 * schedule-window) run as `./dev up` runs it, in both layouts, on the same broker in one run:
 *   one process  every stage in one OS process (`./dev up --instances 0`);
 *   per stage    each stage in I OS processes of its own (`./dev up --instances I`).
 * Beside each, in the same layout: raw kafkajs in the chain's own shape (four hops writing
 * 3 + 1 + 1 + 3 records per order, no Avro, no transactions: one process holding the four hops,
 * or I processes per hop) and the pass-through stages of `pass-stages.ts` (the same shape on the
 * stage runtime, no decisions). Every worker is started and has joined its group before the N
 * past-due orders are produced; a run's time is from the first order produced to the last
 * email notification (or raw copy) read committed at the end.
 */
import type { ChildProcess } from 'node:child_process';
import { orderStatus } from '../platform/status.ts';
import { topicName } from '../platform/topics.ts';
import { produceOrders } from '../test/support/stack.ts';
import { PASS_STAGES } from './pass-stages.ts';
import { arrivals, benchClients, cpuSeconds, startProcess, type RawHop } from './support.ts';

const CHAIN = ['scheduler', 'enrich-recipients', 'evaluate-condition', 'resolve-channel', 'schedule-window'];
const PASS = Object.keys(PASS_STAGES);

type Shape = 'raw' | 'pass' | 'chain';
type Layout = 'one process' | 'per stage';

async function run(shape: Shape, layout: Layout, N: number, instances: number) {
  const { prefix, config, kafka, codec } = await benchClients(`layout-${shape}`);
  const input = topicName(prefix, 'orders');
  const base = {
    TOPIC_PREFIX: prefix,
    STAGE_HTTP_PORT: '0',
    LOG_LEVEL: 'info',
  };
  const workers: { env: Record<string, string> }[] = [];
  let output = topicName(prefix, 'emailQueue');
  if (shape === 'raw') {
    const topics = [1, 2, 3, 4, 'status'].map((i) => `${prefix}raw.shape.${i}`);
    await kafka.ensureTopics(
      topics.map((name) => ({
        name,
        partitions: config.TOPIC_PARTITIONS,
        replicationFactor: config.TOPIC_REPLICATION_FACTOR,
        config: {},
      })),
    );
    const statusBytes = (
      await codec.encode(
        'status',
        orderStatus({ orderId: crypto.randomUUID(), creator: 'ttd' }, 'Order_Processing', Date.now()),
      )
    ).length;
    const chain = [input, ...topics.slice(0, 4)];
    const sides = [2, 0, 0, 2];
    const hops: RawHop[] = [0, 1, 2, 3].map((h) => ({
      groupId: `${prefix}raw-${h}`,
      from: chain[h]!,
      to: chain[h + 1]!,
      side: { topic: topics[4]!, count: sides[h]!, bytes: statusBytes },
    }));
    output = chain[4]!;
    if (layout === 'one process') workers.push({ env: { BENCH_WORKER: 'raw', RAW_HOPS: JSON.stringify(hops) } });
    else
      for (const hop of hops)
        for (let i = 0; i < instances; i++)
          workers.push({ env: { BENCH_WORKER: 'raw', RAW_HOPS: JSON.stringify([hop]) } });
  } else {
    const stages = shape === 'chain' ? CHAIN : PASS;
    if (layout === 'one process') workers.push({ env: { BENCH_WORKER: 'stages', STAGES: stages.join(',') } });
    else
      for (const stage of stages)
        for (let i = 0; i < instances; i++) workers.push({ env: { BENCH_WORKER: 'stages', STAGES: stage } });
  }

  const children: ChildProcess[] = [];
  try {
    const started = await Promise.all(
      workers.map((w) => startProcess('bench/worker.ts', { ...base, ...w.env }, /"msg":"stages running"/)),
    );
    children.push(...started.map((s) => s.child));
    const out = await arrivals(kafka, output, `${prefix}count`, N);
    const cpu0 = await Promise.all(children.map((c) => cpuSeconds(c.pid!)));
    const t0 = performance.now();
    await produceOrders(kafka, codec, input, N, 2000, () => ({ requestedSendTime: Date.now() - 1_000 }));
    await out.finished;
    const rate = N / ((performance.now() - t0) / 1000);
    const cpu1 = await Promise.all(children.map((c) => cpuSeconds(c.pid!)));
    await out.stop();
    const cpuPer1000 = (cpu1.reduce((a, b) => a + b, 0) - cpu0.reduce((a, b) => a + b, 0)) / (N / 1000);
    return { rate, processes: children.length, cpuPer1000 };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : Promise.resolve())),
    );
    await kafka.close();
  }
}

export async function layoutBench(N: number, instances: number): Promise<void> {
  const layouts: Layout[] = ['one process', 'per stage'];
  const results = new Map<string, { rate: number; processes: number; cpuPer1000: number }>();
  for (const layout of layouts)
    for (const shape of ['raw', 'pass', 'chain'] as Shape[]) {
      console.log(`${layout}, ${shape}: ${N} orders …`);
      results.set(`${layout}/${shape}`, await run(shape, layout, N, instances));
    }
  console.log(`\norders: ${N} per run, ${instances} process(es) per stage in the per-stage layout, same broker`);
  console.log(
    `${'layout'.padEnd(12)} ${'shape'.padEnd(34)} ${'processes'.padStart(9)} ${'orders/s'.padStart(9)} ${'CPU s/1000'.padStart(11)}`,
  );
  const names: Record<Shape, string> = {
    raw: 'raw kafkajs, chain shape',
    pass: 'pass-through stages, chain shape',
    chain: 'the chain',
  };
  for (const layout of layouts)
    for (const shape of ['raw', 'pass', 'chain'] as Shape[]) {
      const r = results.get(`${layout}/${shape}`)!;
      console.log(
        `${layout.padEnd(12)} ${names[shape].padEnd(34)} ${String(r.processes).padStart(9)} ${r.rate.toFixed(0).padStart(9)} ${r.cpuPer1000.toFixed(2).padStart(11)}`,
      );
    }
  for (const layout of layouts) {
    const [raw, pass, chain] = (['raw', 'pass', 'chain'] as Shape[]).map((s) => results.get(`${layout}/${s}`)!.rate);
    console.log(
      `${layout}: chain / raw same shape ${(chain! / raw!).toFixed(2)} (target ≥ 0.5), ` +
        `chain / pass-through same shape ${(chain! / pass!).toFixed(2)} (target ≥ 0.8), ` +
        `pass-through / raw ${(pass! / raw!).toFixed(2)} (the runtime's own cost)`,
    );
  }
  const one = results.get('one process/chain')!.rate;
  const per = results.get('per stage/chain')!.rate;
  console.log(
    `chain, per stage / one process: ${(per / one).toFixed(2)} (the faster layout: ${per > one ? 'per stage' : 'one process'})`,
  );
}
