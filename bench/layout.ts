/**
 * Deployment layouts (`./dev bench --suite layout [--records N] [--instances I] [--rounds R]`): the chain
 * (scheduler with its releaser, then enrich-recipients, evaluate-condition and resolve-channel,
 * then schedule-window) in both layouts, on the same broker in one run:
 *   one process  every stage in one OS process (`./dev up --instances 0`);
 *   per stage    each stage in I OS processes of its own (`./dev up --instances I`);
 * and in both topologies: apart, the three middle stages as three hops, and fused, the three as
 * one hop (prepare-notifications, as `./dev up` runs it, with evaluate-condition and
 * resolve-channel as its lanes, idle here). Beside each, in the same layout and topology: raw kafkajs in the
 * chain's own shape (apart four hops writing 3 + 1 + 1 + 3 records per order, fused two writing
 * 3 + 3; no Avro, no transactions: one process holding the hops, or I processes per hop), the
 * same hops exactly-once as kafkajs itself does it (`rawtx`: each input partition's copies and
 * its next offset in one transaction of its own producer, read committed; still no Avro: see
 * `RawHop`), and the pass-through stages of `pass-stages.ts` (the same shape on the stage
 * runtime, no decisions). Raw exactly-once over raw is what the guarantee costs kafkajs before
 * any code of ours runs;
 * and, as diagnostics of the scheduler's once-only claim of each due order (Redis), the
 * pass-through stages with their first hop making that claim (`pass-due-claimed`) and the chain
 * with those claims answered at once (`BENCH_STUB_PASS`, see worker.ts): the chain over the
 * first is what its decisions cost beyond the claim, the chain over the second what the claim
 * costs it.
 * Every worker is started and has joined its group before the N past-due orders are produced; a
 * run's time is from the first order produced to the last email notification (or raw copy) read
 * committed at the end. With R rounds (3 by default; an odd number, so the median is a round's)
 * every configuration runs R times, the shapes in turn and reversed every other round, and the
 * figures printed are medians: the machine's noise moved one run's chain / pass-through (one
 * process, fused) from 0.51 to 0.86 on 2026-12-03 and -04. `--instances 0` runs the one-process layout only.
 * Beside CPU per order it prints the bytes the processes wrote and read per order through system
 * calls (their Kafka and Redis sockets, from /proc/<pid>/io): the shapes move the same Kafka
 * records, so a difference there is the chain's Redis work.
 */
import type { ChildProcess } from 'node:child_process';
import { orderStatus } from '../platform/status.ts';
import { topicName } from '../platform/topics.ts';
import { produceOrders } from '../test/support/stack.ts';
import {
  arrivals,
  benchClients,
  cpuSeconds,
  dropRun,
  ioBytes,
  kafkaRequestCounts,
  median,
  perOrderLine,
  redisCommandCounts,
  startProcess,
  STAGES_RUNNING,
  stopProcesses,
  type RawHop,
} from './support.ts';

type Topology = 'apart' | 'fused';
/** `BENCH_TOPOLOGIES=fused` (comma-separated) runs only those: for a diagnostic experiment */
const TOPOLOGIES = only<Topology>('BENCH_TOPOLOGIES', ['fused', 'apart']);
/** per topology: the chain's stages, the pass-through stages of its shape, and the status events per raw hop */
const SHAPE_OF: Record<Topology, { chain: string[]; pass: string[]; claimed: string[]; sides: number[] }> = {
  apart: {
    chain: ['scheduler', 'enrich-recipients', 'evaluate-condition', 'resolve-channel', 'schedule-window'],
    pass: ['pass-due', 'pass-enrich', 'pass-approve', 'pass-resolve'],
    claimed: ['pass-due-claimed', 'pass-enrich', 'pass-approve', 'pass-resolve'],
    sides: [2, 0, 0, 2],
  },
  fused: {
    chain: ['scheduler', 'prepare-notifications', 'schedule-window'],
    pass: ['pass-due', 'pass-prepare'],
    claimed: ['pass-due-claimed', 'pass-prepare'],
    sides: [2, 2],
  },
};

/**
 * `claimed`: the pass-through stages whose first hop makes the scheduler's claim of each due
 * order (`pass-due-claimed`); `unclaimed`: the chain with its scheduler's Redis claims answered
 * at once (see worker.ts). Both diagnostics: what the claim costs, from either side.
 */
type Shape = 'raw' | 'rawtx' | 'pass' | 'claimed' | 'chain' | 'unclaimed';
/** `BENCH_SHAPES=pass,chain` (comma-separated) runs only those: for a diagnostic experiment (ratios to a shape not run print "not run") */
const SHAPES = only<Shape>('BENCH_SHAPES', ['raw', 'rawtx', 'pass', 'claimed', 'chain', 'unclaimed']);

/** the `all` that an environment variable may narrow to some of them (an unknown name is refused) */
function only<T extends string>(variable: string, all: T[]): T[] {
  const asked = process.env[variable]?.split(',').filter(Boolean);
  if (!asked) return all;
  const unknown = asked.filter((a) => !all.includes(a as T));
  if (unknown.length > 0) throw new Error(`${variable}: unknown ${unknown.join(', ')} (one of ${all.join(', ')})`);
  return all.filter((a) => asked.includes(a));
}
type Layout = 'one process' | 'per stage';
/**
 * `requests`: the stage processes' Kafka requests and Redis' commands per 1,000 orders, by API and command (none for raw kafkajs: it counts none);
 * `written`, `read`: the processes' bytes through system calls (Kafka's and Redis' sockets) per order
 */
type Figures = {
  rate: number;
  processes: number;
  cpuPer1000: number;
  written: number;
  read: number;
  requests?: string;
};

async function run(shape: Shape, topology: Topology, layout: Layout, N: number, instances: number): Promise<Figures> {
  const { sides } = SHAPE_OF[topology];
  const { prefix, config, kafka, codec } = await benchClients(`layout-${shape}`);
  const input = topicName(prefix, 'orders');
  const base = {
    TOPIC_PREFIX: prefix,
    STAGE_HTTP_PORT: '0',
    LOG_LEVEL: 'info',
  };
  const workers: { env: Record<string, string> }[] = [];
  let output = topicName(prefix, 'emailQueue');
  const raw = shape === 'raw' || shape === 'rawtx';
  if (raw) {
    const topics = [...sides.map((_, i) => i + 1), 'status'].map((i) => `${prefix}raw.shape.${i}`);
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
    const chain = [input, ...topics.slice(0, sides.length)];
    const hops: RawHop[] = sides.map((count, h) => ({
      groupId: `${prefix}raw-${h}`,
      from: chain[h]!,
      to: chain[h + 1]!,
      side: { topic: topics[sides.length]!, count, bytes: statusBytes },
      ...(shape === 'rawtx' ? { exactlyOnce: true } : {}),
    }));
    output = chain[sides.length]!;
    if (layout === 'one process') workers.push({ env: { BENCH_WORKER: 'raw', RAW_HOPS: JSON.stringify(hops) } });
    else
      for (const hop of hops)
        for (let i = 0; i < instances; i++)
          workers.push({ env: { BENCH_WORKER: 'raw', RAW_HOPS: JSON.stringify([hop]) } });
  } else {
    const stages = SHAPE_OF[topology][shape === 'unclaimed' ? 'chain' : shape];
    const env = { BENCH_WORKER: 'stages', ...(shape === 'unclaimed' ? { BENCH_STUB_PASS: '1' } : {}) };
    if (layout === 'one process') workers.push({ env: { ...env, STAGES: stages.join(',') } });
    else
      for (const stage of stages) for (let i = 0; i < instances; i++) workers.push({ env: { ...env, STAGES: stage } });
  }

  const children: ChildProcess[] = [];
  try {
    const started = await Promise.all(
      workers.map((w) =>
        startProcess('bench/worker.ts', { ...base, ...w.env }, raw ? /"msg":"stages running"/ : STAGES_RUNNING),
      ),
    );
    children.push(...started.map((s) => s.child));
    const ports = raw ? [] : started.map((s) => s.port);
    const out = await arrivals(kafka, output, `${prefix}count`, N);
    const requests0 = await kafkaRequestCounts(ports);
    const redis0 = await redisCommandCounts();
    const cpu0 = await Promise.all(children.map((c) => cpuSeconds(c.pid!)));
    const io0 = await Promise.all(children.map((c) => ioBytes(c.pid!)));
    const t0 = performance.now();
    await produceOrders(kafka, codec, input, N, 2000, () => ({ requestedSendTime: Date.now() - 1_000 }));
    await out.finished;
    const rate = N / ((performance.now() - t0) / 1000);
    const cpu1 = await Promise.all(children.map((c) => cpuSeconds(c.pid!)));
    const io1 = await Promise.all(children.map((c) => ioBytes(c.pid!)));
    const bytes = (side: 'written' | 'read') => io1.reduce((sum, b, i) => sum + b[side] - io0[i]![side], 0) / N;
    const requests = raw
      ? undefined
      : perOrderLine('Kafka requests per 1,000 orders', requests0, await kafkaRequestCounts(ports), N / 1000) +
        '; ' +
        perOrderLine('Redis commands per 1,000 orders', redis0, await redisCommandCounts(), N / 1000);
    await out.stop();
    const cpuPer1000 = (cpu1.reduce((a, b) => a + b, 0) - cpu0.reduce((a, b) => a + b, 0)) / (N / 1000);
    return {
      rate,
      processes: children.length,
      cpuPer1000,
      written: bytes('written'),
      read: bytes('read'),
      ...(requests ? { requests } : {}),
    };
  } finally {
    await stopProcesses(children);
    await kafka.close();
    await dropRun(prefix);
  }
}

export async function layoutBench(N: number, instances: number, rounds = 3): Promise<void> {
  // `--instances 0`: the one-process layout only (as `./dev up --instances 0`)
  const layouts: Layout[] = instances > 0 ? ['one process', 'per stage'] : ['one process'];
  /** each configuration's figures, one per round */
  const results = new Map<string, Figures[]>();
  const key = (layout: Layout, topology: Topology, shape: Shape) => `${layout}/${topology}/${shape}`;
  for (let round = 0; round < rounds; round++)
    for (const layout of layouts)
      for (const topology of TOPOLOGIES)
        // the shapes run in turn, reversed every other round, so none always runs on the broker
        // the one before it warmed (or filled): each round's ratios are taken side by side
        for (const shape of round % 2 === 0 ? SHAPES : [...SHAPES].reverse()) {
          console.log(
            `${rounds > 1 ? `round ${round + 1} of ${rounds}: ` : ''}${layout}, ${topology}, ${shape}: ${N} orders …`,
          );
          const k = key(layout, topology, shape);
          results.set(k, [...(results.get(k) ?? []), await run(shape, topology, layout, N, instances)]);
        }
  const of = (layout: Layout, topology: Topology, shape: Shape) => results.get(key(layout, topology, shape)) ?? [];
  console.log(
    `\norders: ${N} per run, ${layouts.length > 1 ? `${instances} process(es) per stage in the per-stage layout, ` : ''}same broker` +
      (rounds > 1 ? `; ${rounds} rounds, medians (each ratio: the median of the rounds' own ratios)` : ''),
  );
  console.log(
    `${'layout'.padEnd(12)} ${'topology'.padEnd(9)} ${'shape'.padEnd(34)} ${'processes'.padStart(9)} ${'orders/s'.padStart(9)} ${'CPU s/1000'.padStart(11)} ${'B out/order'.padStart(12)} ${'B in/order'.padStart(11)}`,
  );
  const names: Record<Shape, string> = {
    raw: 'raw kafkajs, chain shape',
    rawtx: 'raw kafkajs exactly-once, chain shape',
    pass: 'pass-through stages, chain shape',
    chain: 'the chain',
    claimed: 'pass-through, with the claim',
    unclaimed: 'the chain, its claims stubbed',
  };
  for (const layout of layouts)
    for (const topology of TOPOLOGIES)
      for (const shape of SHAPES) {
        const rs = of(layout, topology, shape);
        if (rs.length === 0) continue;
        const rate = median(rs.map((r) => r.rate)).toFixed(0);
        const cpu = median(rs.map((r) => r.cpuPer1000)).toFixed(3);
        const out = median(rs.map((r) => r.written)).toFixed(0);
        const inn = median(rs.map((r) => r.read)).toFixed(0);
        console.log(
          `${layout.padEnd(12)} ${topology.padEnd(9)} ${names[shape].padEnd(34)} ${String(rs[0]!.processes).padStart(9)} ${rate.padStart(9)} ${cpu.padStart(11)} ${out.padStart(12)} ${inn.padStart(11)}`,
        );
      }
  // each round's figures, and what the stages asked of Kafka and Redis per order (a request's
  // cost is mostly its round: fewer, fuller requests are cheaper): the same count can hide a
  // different mix, and a median a trend over the rounds
  for (const layout of layouts)
    for (const topology of TOPOLOGIES)
      for (const shape of ['pass', 'claimed', 'chain', 'unclaimed'] as const)
        for (const [i, r] of of(layout, topology, shape).entries())
          console.log(
            `${layout}, ${topology}, ${names[shape]}${rounds > 1 ? `, round ${i + 1}` : ''}: ` +
              `${r.rate.toFixed(0)} orders/s, ${r.cpuPer1000.toFixed(3)} CPU-s per 1,000 orders; ${r.requests}`,
          );
  /** a ratio of two shapes' rates: the median over the rounds, and each round's when there are several */
  const ratio = (layout: Layout, topology: Topology, a: Shape, b: Shape) => {
    const [as, bs] = [of(layout, topology, a), of(layout, topology, b)];
    if (as.length === 0 || bs.length === 0) return 'not run';
    const xs = as.map((r, i) => r.rate / bs[i]!.rate);
    return median(xs).toFixed(2) + (xs.length > 1 ? ` [${xs.map((x) => x.toFixed(2)).join(', ')}]` : '');
  };
  for (const layout of layouts)
    for (const topology of TOPOLOGIES)
      console.log(
        `${layout}, ${topology}: chain / raw same shape ${ratio(layout, topology, 'chain', 'raw')} (target ≥ 0.5), ` +
          `chain / pass-through same shape ${ratio(layout, topology, 'chain', 'pass')} (target ≥ 0.8), ` +
          `pass-through / raw ${ratio(layout, topology, 'pass', 'raw')} (the runtime's own cost); ` +
          `raw exactly-once / raw ${ratio(layout, topology, 'rawtx', 'raw')} (what exactly-once costs kafkajs itself), ` +
          `pass-through / raw exactly-once ${ratio(layout, topology, 'pass', 'rawtx')}, ` +
          `chain / raw exactly-once ${ratio(layout, topology, 'chain', 'rawtx')}; ` +
          `the chain with its scheduler's claims stubbed / pass-through ${ratio(layout, topology, 'unclaimed', 'pass')}, ` +
          `chain / stubbed ${ratio(layout, topology, 'chain', 'unclaimed')}, ` +
          `pass-through with the claim / pass-through ${ratio(layout, topology, 'claimed', 'pass')}, ` +
          `chain / pass-through with the claim ${ratio(layout, topology, 'chain', 'claimed')} (diagnostics: what the claim costs)`,
      );
  for (const layout of layouts) {
    const fused = of(layout, 'fused', 'chain');
    const apart = of(layout, 'apart', 'chain');
    if (fused.length === 0 || apart.length === 0) continue;
    console.log(
      `${layout}: the chain fused / apart: ${median(fused.map((f, i) => f.rate / apart[i]!.rate)).toFixed(2)} in orders/s, ` +
        `${median(fused.map((f, i) => apart[i]!.cpuPer1000 / f.cpuPer1000)).toFixed(2)} in CPU per order (apart ÷ fused)`,
    );
  }
  for (const topology of layouts.length > 1 && SHAPES.includes('chain') ? TOPOLOGIES : []) {
    const one = median(of('one process', topology, 'chain').map((r) => r.rate));
    const per = median(of('per stage', topology, 'chain').map((r) => r.rate));
    console.log(
      `the chain ${topology}, per stage / one process: ${(per / one).toFixed(2)} (the faster layout: ${per > one ? 'per stage' : 'one process'})`,
    );
  }
}
