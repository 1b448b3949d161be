/**
 * End to end (`./dev bench --suite e2e [--orders N] [--connections C] [--tps T] [--rate R]
 * [--layouts 0,2,0a]`): N orders through the gateway (`POST /future/orders`, half email, half SMS with
 * the Anytime policy, each to its own address), through every stage, to an SMTP server and the
 * SMSC simulator, in each layout asked for (0: every stage in one process and one gateway, as
 * `./dev up` runs them; N: each stage in N processes and N gateways), one after the other. Per order, the latency runs from the gateway's 201 (the
 * order is durable) to the hand-off: the SMTP server accepting the message, or the SMSC
 * accepting the submit_sm. All clocks are this machine's.
 *
 * Printed beside it, from the same run: how fast the gateway accepted the N orders (its share
 * of the time), the SMPP TPS the send-sms stage was allowed (the SMS ceiling), and, from a first
 * run of the gateway alone on the same stack, end to end over the gateway alone, in throughput
 * and in CPU per order.
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { loadConfig } from '../platform/config.ts';
import { evaluateConditionStage } from '../processors/evaluate-condition/stage.ts';
import { scheduleWindowStage } from '../processors/schedule-window/stage.ts';
import { DEFAULT_STAGES } from '../processors/stages.ts';
import { scheduleFinalRetentionMs } from '../processors/runtime/wiring.ts';
import {
  benchClients,
  benchToken,
  cpuSeconds,
  dropRun,
  redisCommandCounts,
  kafkaRequestCounts,
  perOrderLine,
  redisFootprint,
  remoteSmtpSink,
  senderEnv,
  STAGES_RUNNING,
  statusViewSettled,
  stackCpuSeconds,
  startGateway,
  startProcess,
  stopProcesses,
} from './support.ts';

/** the stages as `./dev up` runs them: enrich, evaluate and resolve in one hop (prepare-notifications, the two others its lanes) */
const STAGES = DEFAULT_STAGES.join(',');

interface Order {
  key: string;
  channel: 'email' | 'sms';
  body: string;
  acceptedAt?: number;
  handedOffAt?: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

export interface LayoutFigures {
  layout: string;
  accepted: number;
  endToEnd: number;
  offered: number;
  p50: number;
  p99: number;
  /** CPU seconds per 1,000 orders handed off in phase 1, every process taking part */
  cpuPerThousand: number;
  /** the same, of the processes no stage's work costs anything in (NOT_THE_STAGES) */
  fixedPerThousand: number;
}

/**
 * The processes of an e2e phase whose work the stages do not cause: the gateway(s), the SMTP and
 * SMPP sinks (outside services in production), and the bench's own HTTP clients. Kafka and Redis
 * are not among them, though the gateway's writes are part of their work.
 */
const NOT_THE_STAGES = /^(gateways?|smtp sink|smsc|bench \(HTTP clients\))$/;

/**
 * Runs the e2e phases once per layout, each on its own topics and SMSC account, and prints the
 * layouts side by side: 0 is every stage in one process and one gateway (`./dev up`), N is each
 * stage in N processes of its own and N gateways (`./dev up --instances N`).
 */
export async function endToEndBench(
  N: number,
  connections: number,
  tps: number,
  offered: number | undefined,
  layouts: LayoutSpec[] = [{ instances: 0 }],
): Promise<void> {
  const sink = await remoteSmtpSink();
  const figures: LayoutFigures[] = [];
  let alone: GatewayAlone;
  try {
    alone = await gatewayAlone(N, connections);
    for (const [i, spec] of layouts.entries())
      figures.push(await endToEndLayout(N, connections, tps, offered, spec, i, sink));
  } finally {
    await sink.close();
  }
  // On a machine whose cores are all busy, throughput is cores / CPU per order: end to end can
  // reach the gateway alone's rate at most in the ratio of their CPU per order.
  console.log('\nend to end against the gateway alone (same run, same stack):');
  for (const f of figures)
    console.log(
      `  ${f.layout.padEnd(36)} handed off/s ÷ gateway alone accepted/s = ${f.endToEnd.toFixed(0)} / ${alone.accepted.toFixed(0)} = ${(f.endToEnd / alone.accepted).toFixed(2)}; ` +
        `CPU per order, gateway alone ÷ end to end = ${alone.cpuPerThousand.toFixed(2)} / ${f.cpuPerThousand.toFixed(2)} = ${(alone.cpuPerThousand / f.cpuPerThousand).toFixed(2)}`,
    );
  // What the target could be at most here: were the stages, and all the Kafka and Redis work,
  // free, an order would still cost what the gateway, the sinks and the clients spend on it.
  for (const f of figures)
    console.log(
      `  ${f.layout.padEnd(36)} at most, were the stages, Kafka and Redis free: gateway alone's CPU per order ÷ ` +
        `the gateway's, the sinks' and the clients' in this phase = ${alone.cpuPerThousand.toFixed(2)} / ${f.fixedPerThousand.toFixed(2)} = ${(alone.cpuPerThousand / f.fixedPerThousand).toFixed(2)}`,
    );
  if (figures.length < 2) return;
  console.log('\nlayouts side by side (same run, same machine):');
  console.log(
    'layout                               accepted/s   end to end/s   offered/s   accept → hand-off p50 / p99',
  );
  for (const f of figures)
    console.log(
      `${f.layout.padEnd(36)} ${f.accepted.toFixed(0).padStart(10)}   ${f.endToEnd.toFixed(0).padStart(12)}   ${String(f.offered).padStart(9)}   ${f.p50} / ${f.p99} ms`,
    );
  const one = figures[0]!;
  for (const many of figures.slice(1))
    console.log(
      `ratio ${many.layout} / ${one.layout}: end to end ${(many.endToEnd / one.endToEnd).toFixed(2)}, accepted ${(many.accepted / one.accepted).toFixed(2)}`,
    );
}

/** A layout to run: stage processes per stage (0: all in one) and what a transaction spans (unset: the stages' default, or TRANSACTION_SCOPE). */
export interface LayoutSpec {
  instances: number;
  scope?: 'partition' | 'instance';
  /** enrich-recipients in prepare-notifications' place: enrich, evaluate and resolve as three hops */
  apart?: boolean;
}

/** The stages of a layout: as `./dev up` runs them, or with the three middle ones apart. */
const stagesOf = (spec: LayoutSpec) =>
  spec.apart ? STAGES.replace('prepare-notifications', 'enrich-recipients,evaluate-condition,resolve-channel') : STAGES;

/**
 * `--layouts 0,2,0p,0a`: a number of processes per stage (0: one for all), then `i` for
 * TRANSACTION_SCOPE=instance or `p` for partition (none: the default), then `a` for
 * enrich-recipients, evaluate-condition and resolve-channel apart (three hops, not one).
 */
export function parseLayouts(spec: string): LayoutSpec[] {
  return spec.split(',').map((s) => {
    const m = /^(\d+)([ip]?)(a?)$/.exec(s.trim());
    if (!m)
      throw new Error(
        `--layouts: "${s}" is not a number of processes per stage, optionally followed by i or p, then a`,
      );
    const instances = Number(m[1]);
    return {
      instances,
      ...(m[2] === 'i' ? { scope: 'instance' as const } : m[2] === 'p' ? { scope: 'partition' as const } : {}),
      ...(m[3] ? { apart: true } : {}),
    };
  });
}

interface GatewayAlone {
  accepted: number;
  cpuPerThousand: number;
}

/**
 * The gateway alone, on the same stack: N email orders as fast as it takes them, nothing
 * downstream reading them (its own topics), with what every process taking part spent.
 */
async function gatewayAlone(N: number, connections: number): Promise<GatewayAlone> {
  console.log('\n--- the gateway alone (no stage reads its topics) ---');
  const { prefix, kafka } = await benchClients('gwa');
  await kafka.close();
  const { publicKeyFile, token } = await benchToken('bench');
  const gateway = await startGateway({ TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' }, publicKeyFile);
  try {
    const url = `http://127.0.0.1:${gateway.port}/notifications/api/v1/future/orders`;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const post = async (i: number) => {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          idempotencyId: randomUUID(),
          sendersReference: 'bench-e2e',
          recipient: {
            recipientEmail: {
              emailAddress: `alone-${i}@example.com`,
              emailSettings: { subject: 'Benchmark', body: `Melding ${i}`, contentType: 'Plain' },
            },
          },
        }),
      });
      await res.arrayBuffer();
      return res.status === 201;
    };
    const run = async (count: number) => {
      let next = 0;
      let ok = 0;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (next < count) if (await post(next++)) ok++;
        }),
      );
      return ok;
    };
    await run(Math.min(500, N)); // warm-up: JIT and connections are not part of the figures
    const cpu = async () => {
      let sum = await cpuSeconds(gateway.child.pid!);
      for (const [, seconds] of await stackCpuSeconds()) sum += seconds;
      const own = process.cpuUsage();
      return sum + (own.user + own.system) / 1e6;
    };
    const cpu0 = await cpu();
    const t0 = Date.now();
    const ok = await run(N);
    const seconds = (Date.now() - t0) / 1000;
    const used = (await cpu()) - cpu0;
    const figures = { accepted: ok / seconds, cpuPerThousand: (used / Math.max(1, ok)) * 1000 };
    console.log(
      `gateway alone accepted:     ${figures.accepted.toFixed(0)} orders/s (${ok} of ${N} in ${seconds.toFixed(1)} s); ` +
        `${figures.cpuPerThousand.toFixed(2)} CPU-s per 1,000 (gateway, Kafka, Redis, registry, clients)`,
    );
    return figures;
  } finally {
    await stopProcesses([gateway.child]);
    await dropRun(prefix);
  }
}

async function endToEndLayout(
  N: number,
  connections: number,
  tps: number,
  offered: number | undefined,
  spec: LayoutSpec,
  tag: number,
  sink: Awaited<ReturnType<typeof remoteSmtpSink>>,
): Promise<LayoutFigures> {
  const { instances, scope } = spec;
  const stages = stagesOf(spec);
  const layout =
    (instances === 0 ? 'one stage process, one gateway' : `${instances} processes per stage, ${instances} gateways`) +
    (scope === 'instance' ? ', tx per instance' : scope === 'partition' ? ', tx per partition' : '') +
    (spec.apart ? ', stages apart' : '');
  console.log(`\n--- ${layout} ---`);
  const { prefix, kafka } = await benchClients(`e2e${tag}`);
  await kafka.close();
  const smscControl = process.env.SMSC_CONTROL_URL;
  if (!smscControl || !process.env.SMSC_HOST) throw new Error('SMSC_HOST and SMSC_CONTROL_URL must be set');
  const systemId = `bench-${randomUUID().slice(0, 8)}`;

  const { publicKeyFile, token } = await benchToken('bench');
  const common = { TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' };
  const stageEnv = { ...senderEnv(prefix, sink.port, systemId, tps), ...(scope ? { TRANSACTION_SCOPE: scope } : {}) };
  const ready = STAGES_RUNNING;
  const stageProcesses =
    instances === 0
      ? [await startProcess('processors/main.ts', { ...stageEnv, STAGES: stages }, ready)]
      : await Promise.all(
          stages
            .split(',')
            .flatMap((stage) =>
              Array.from({ length: instances }, () =>
                startProcess('processors/main.ts', { ...stageEnv, STAGES: stage }, ready),
              ),
            ),
        );
  const gateways = await Promise.all(
    Array.from({ length: Math.max(1, instances) }, () => startGateway(common, publicKeyFile)),
  );
  const stageNames = instances === 0 ? ['stages (all in one process)'] : stages.split(',').map((s) => `stage ${s}`);
  /** CPU seconds so far of every process taking part, by what it is (instances summed). */
  const cpuSnapshot = async (): Promise<Map<string, number>> => {
    const cpu = new Map<string, number>();
    const add = (name: string, seconds: number) => cpu.set(name, (cpu.get(name) ?? 0) + seconds);
    for (const [i, p] of stageProcesses.entries())
      add(stageNames[instances === 0 ? 0 : Math.floor(i / instances)]!, await cpuSeconds(p.child.pid!));
    for (const g of gateways) add(gateways.length > 1 ? 'gateways' : 'gateway', await cpuSeconds(g.child.pid!));
    for (const [name, seconds] of await stackCpuSeconds()) add(name.startsWith('kafka') ? 'kafka' : name, seconds);
    const own = process.cpuUsage();
    add('smtp sink', await cpuSeconds(sink.pid));
    add('bench (HTTP clients)', (own.user + own.system) / 1e6);
    return cpu;
  };
  /**
   * Prints what every process spent between two snapshots per 1,000 orders handed off, and how
   * busy that kept the machine's cores over the phase's `seconds`; returns the total per 1,000
   * and what of it no stage's work causes (NOT_THE_STAGES).
   */
  const cpuTable = (what: string, before: Map<string, number>, after: Map<string, number>, seconds: number) => {
    const used = [...after]
      .map(([name, s]) => [name, s - (before.get(name) ?? 0)] as const)
      .filter(([, s]) => s > 0.05)
      .sort((a, b) => b[1] - a[1]);
    const total = used.reduce((a, [, s]) => a + s, 0);
    console.log(`CPU in ${what} (from /proc), per 1,000 orders handed off:`);
    for (const [name, s] of used)
      console.log(
        `  ${name.padEnd(36)} ${((s / N) * 1000).toFixed(2).padStart(7)} CPU-s   ${((s / total) * 100).toFixed(0).padStart(3)} %`,
      );
    console.log(
      `  ${'all'.padEnd(36)} ${((total / N) * 1000).toFixed(2).padStart(7)} CPU-s   (${((total / seconds / cpus().length) * 100).toFixed(0)} % of ${cpus().length} cores over ${seconds.toFixed(1)} s)`,
    );
    const fixed = used.filter(([name]) => NOT_THE_STAGES.test(name)).reduce((a, [, s]) => a + s, 0);
    return { perThousand: (total / N) * 1000, fixedPerThousand: (fixed / N) * 1000 };
  };
  const figures: LayoutFigures = {
    layout,
    accepted: 0,
    endToEnd: 0,
    offered: 0,
    p50: NaN,
    p99: NaN,
    cpuPerThousand: NaN,
    fixedPerThousand: NaN,
  };
  try {
    const urls = gateways.map((g) => `http://127.0.0.1:${g.port}/notifications/api/v1/future/orders`);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const body = (o: Order) =>
      JSON.stringify({
        idempotencyId: randomUUID(),
        sendersReference: 'bench-e2e',
        recipient:
          o.channel === 'email'
            ? {
                recipientEmail: {
                  emailAddress: o.key,
                  emailSettings: { subject: 'Benchmark', body: o.body, contentType: 'Plain' },
                },
              }
            : {
                recipientSms: {
                  phoneNumber: `+${o.key}`,
                  smsSettings: { body: o.body, sendingTimePolicy: 'Anytime' },
                },
              },
      });

    const makeOrders = (from: number, count: number): Order[] =>
      Array.from({ length: count }, (_, j) => {
        const i = from + j;
        return i % 2 === 0
          ? { key: `e2e${tag}-${i}@example.com`, channel: 'email', body: `Melding ${i}` }
          : // Norwegian mobile numbers, one per order and layout: +47 9t xx xx xx
            { key: `479${tag}${String(i).padStart(6, '0')}`, channel: 'sms', body: `Melding ${i}` };
      });
    const smsMessages = async () =>
      (await (await fetch(`${smscControl}/messages?systemId=${systemId}`)).json()) as {
        destAddr: string;
        receivedAt: number;
      }[];

    /** Places `orders` (at most `rate` a second, if given), awaits every hand-off, prints the figures. */
    const phase = async (title: string, orders: Order[], rate?: number) => {
      console.log(`\n${title}`);
      const byKey = new Map(orders.map((o) => [o.key, o]));
      const t0 = Date.now();
      let next = 0;
      let refused = 0;
      await Promise.all(
        Array.from({ length: connections }, async (_, c) => {
          const url = urls[c % urls.length]!;
          while (next < orders.length) {
            const i = next++;
            const o = orders[i]!;
            if (rate) {
              const wait = t0 + (i * 1000) / rate - Date.now();
              if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            }
            const res = await fetch(url, { method: 'POST', headers, body: body(o) });
            await res.arrayBuffer();
            if (res.status === 201) o.acceptedAt = Date.now();
            else refused++;
          }
        }),
      );
      const acceptedAll = Date.now();
      const accepted = orders.filter((o) => o.acceptedAt !== undefined);
      const emails = accepted.filter((o) => o.channel === 'email');
      const sms = accepted.filter((o) => o.channel === 'sms');

      // The SMSC's view of what it accepted is polled (the simulator has no push channel).
      const emailsDone = sink.untilAll(
        emails.map((o) => o.key),
        600_000,
        'every email at the sink',
      );
      const deadline = Date.now() + 600_000;
      let smsDone = 0;
      while (smsDone < sms.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        smsDone = 0;
        for (const m of await smsMessages()) {
          const o = byKey.get(m.destAddr);
          if (!o) continue;
          o.handedOffAt ??= m.receivedAt;
          smsDone++;
        }
      }
      await emailsDone;
      for (const o of emails) o.handedOffAt = sink.arrivals.get(o.key);
      const done = accepted.filter((o) => o.handedOffAt !== undefined);
      const lastHandOff = Math.max(...done.map((o) => o.handedOffAt!));

      const latencies = (list: Order[]) =>
        list
          .filter((o) => o.handedOffAt !== undefined)
          .map((o) => o.handedOffAt! - o.acceptedAt!)
          .sort((a, b) => a - b);
      const row = (name: string, list: Order[]) => {
        const l = latencies(list);
        return `${name.padEnd(26)} ${String(l.length).padStart(6)} handed off   p50 ${String(percentile(l, 50)).padStart(6)} ms   p99 ${String(percentile(l, 99)).padStart(6)} ms   max ${String(l.at(-1)).padStart(6)} ms`;
      };
      const seconds = (ms: number) => (ms / 1000).toFixed(1);
      const perKey = new Map<string, number>();
      for (const m of await smsMessages())
        if (byKey.has(m.destAddr)) perKey.set(m.destAddr, (perKey.get(m.destAddr) ?? 0) + 1);
      await sink.refresh();
      const twice =
        emails.filter((o) => (sink.perRecipient.get(o.key) ?? 0) > 1).length +
        [...perKey.values()].filter((n) => n > 1).length;
      console.log(
        `orders:                     ${orders.length} (${emails.length} email, ${sms.length} SMS accepted; ${refused} refused)`,
      );
      console.log(
        `gateway accepted:           ${(accepted.length / ((acceptedAll - t0) / 1000)).toFixed(0)} orders/s (all in ${seconds(acceptedAll - t0)} s)`,
      );
      console.log(
        `end to end:                 ${(done.length / ((lastHandOff - t0) / 1000)).toFixed(0)} orders/s (first request to last hand-off, ${seconds(lastHandOff - t0)} s)`,
      );
      console.log('accept → hand-off:');
      console.log(`  ${row('all', accepted)}`);
      console.log(`  ${row('email (SMTP accepted)', emails)}`);
      console.log(`  ${row('SMS (submit_sm accepted)', sms)}`);
      console.log(`accepted but not handed off: ${accepted.length - done.length}; handed off twice: ${twice}`);
      const all = latencies(accepted);
      return {
        seconds: (lastHandOff - t0) / 1000,
        accepted: accepted.length / ((acceptedAll - t0) / 1000),
        endToEnd: done.length / ((lastHandOff - t0) / 1000),
        p50: percentile(all, 50),
        p99: percentile(all, 99),
      };
    };

    console.log(`SMS ceiling: SMPP_TPS ${tps} submit_sm/s; ${connections} client connections`);
    // A warm-up through the whole pipeline first, not counted: a broker's JIT compiles its consume
    // and transaction paths in its first minutes (Kafka spent three times the CPU per order in
    // whichever layout ran first), and the layouts of one run must meet the same broker.
    // (The first layout of a run is still often slower: with 9,000 orders of warm-up instead,
    // on 2026-12-03, it was, and every process, the bench's own clients too, spent about 1.4
    // times the CPU per order it spent in the second place: the machine, not a cold broker.
    // Compare layouts in both orders, `--layouts 0,0a` and `0a,0`.)
    const warm = Math.min(3000, N);
    await phase(`0. warm-up: ${warm} orders, not counted`, makeOrders(2 * N, warm));
    const cpu0 = await cpuSnapshot();
    const redis0 = await redisCommandCounts();
    const kafkaPorts = { stages: stageProcesses.map((p) => p.port), gateway: gateways.map((g) => g.port) };
    const stageRequests0 = await kafkaRequestCounts(kafkaPorts.stages);
    const gatewayRequests0 = await kafkaRequestCounts(kafkaPorts.gateway);
    const first = await phase(`1. ${N} orders as fast as the gateway takes them`, makeOrders(0, N));
    const cpu1 = await cpuSnapshot();
    const phase1 = cpuTable('phase 1', cpu0, cpu1, first.seconds);
    // (the client's CPU per command is most of what Redis costs a stage: ioredis was a fifth of
    // the stage process's profile)
    const redis1 = await redisCommandCounts();
    redis1.delete('info');
    console.log(
      perOrderLine('Redis commands in phase 1, per order', redis0, redis1, N) +
        " (a script's commands count under their names too)",
    );
    // (how well records are batched: a transaction is five requests besides the fetches)
    console.log(
      perOrderLine(
        'Kafka requests in phase 1, per order: the stages',
        stageRequests0,
        await kafkaRequestCounts(kafkaPorts.stages),
        N,
      ),
    );
    console.log(
      perOrderLine(
        'Kafka requests in phase 1, per order: the gateway',
        gatewayRequests0,
        await kafkaRequestCounts(kafkaPorts.gateway),
        N,
      ),
    );
    figures.cpuPerThousand = phase1.perThousand;
    figures.fixedPerThousand = phase1.fixedPerThousand;
    const throughput = first.endToEnd;
    figures.accepted = first.accepted;
    figures.endToEnd = first.endToEnd;
    // What those orders leave in Redis (view, idempotency, schedules, ledgers), while retained.
    // (the stages run with this environment's retention settings: none is overridden above)
    const config = loadConfig();
    // the deferring stages' schedules, as the stages declare them (their ports are not used here)
    const deferring = [
      scheduleWindowStage({ window: {} as never, clock: Date.now }),
      evaluateConditionStage({ client: {} as never, retryDelayMs: 0, clock: Date.now }),
    ];
    await statusViewSettled(prefix);
    const footprint = await redisFootprint(prefix, {
      viewRetentionMs: config.VIEW_RETENTION_S * 1000,
      finalRetentionMs: (kind) =>
        scheduleFinalRetentionMs(config, deferring.find((d) => kind.startsWith(d.defer!.keyPrefix))?.input),
    });
    const placed = N + warm; // the warm-up's orders are in Redis too
    console.log(
      `Redis after phase 1:        ${(footprint.total / placed).toFixed(0)} bytes per order (${footprint.keys} keys, ${(footprint.total / 1e6).toFixed(1)} MB, ${placed} orders)`,
    );
    console.log(
      `Redis per retained order:   ${(footprint.retained / placed).toFixed(0)} bytes (each key weighed by its stay against the view's ${config.VIEW_RETENTION_S / 86400} days)`,
    );
    for (const [kind, { bytes, retained }] of [...footprint.byKind]
      .sort((a, b) => b[1].retained - a[1].retained)
      .slice(0, 10))
      console.log(
        `  ${kind.padEnd(40)} ${(retained / placed).toFixed(0).padStart(5)} bytes per retained order (${(bytes / placed).toFixed(0)} now)`,
      );
    // Latency under a load the pipeline keeps up with: half the end-to-end rate just measured.
    const rate = offered ?? Math.max(1, Math.floor(throughput / 2));
    figures.offered = rate;
    const cpu2 = await cpuSnapshot();
    const stageRequests2 = await kafkaRequestCounts(kafkaPorts.stages);
    const second = await phase(
      `2. ${N} orders offered at ${rate} orders/s (${offered ? 'as asked' : "half of phase 1's end-to-end rate"})`,
      makeOrders(N, N),
      rate,
    );
    // At a steady rate batches are small: what an order costs then, and whether the cores kept up
    cpuTable('phase 2', cpu2, await cpuSnapshot(), second.seconds);
    console.log(
      perOrderLine(
        'Kafka requests in phase 2, per order: the stages',
        stageRequests2,
        await kafkaRequestCounts(kafkaPorts.stages),
        N,
      ),
    );
    figures.p50 = second.p50;
    figures.p99 = second.p99;
    return figures;
  } finally {
    await stopProcesses([...gateways, ...stageProcesses].map((p) => p.child));
    await dropRun(prefix);
  }
}
