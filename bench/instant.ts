/**
 * The instant lane (`./dev bench --suite instant [--queued N] [--window S] [--tps T] [--load C]`):
 * N bulk SMS and N bulk emails queued on sms.queue and email.queue for one send-sms and send-email
 * process (the SMTP pool unpaced, the SMSC at T submits/s), then four windows of S seconds over
 * that backlog, side by side in one run: bulk alone, bulk while instant SMS and emails are
 * ordered through the gateway at 5/s each, bulk beside a busy loop and no instant order (the
 * control), and bulk alone again. The loop takes the CPU the instant orders took (`--load auto`,
 * the default: see `instantCores`), or `--load C` cores. Prints bulk's hand-offs per second in each
 * window and their ratios (target ≥ 0.9), and the instant ones' accept (the gateway's 201) →
 * hand-off (the SMSC's submit, the SMTP server's acceptance) p50 and p99 (target p99 < 1 s), and
 * the Kafka requests the senders and the gateway made per instant order beyond bulk alone's.
 * Before the campaign is queued, the same instant orders run with nothing else to do, after a
 * quiet window: what one costs in CPU by process (senders, gateway, Kafka, this process's
 * clients and SMTP server, Redis) and in Kafka requests, and its accept → hand-off alone.
 *
 * The control is there because bulk email, unpaced, is bound by its pool's round trips: on a
 * machine with few cores any load beside it (the instant orders' gateway, Kafka and lanes, or
 * anything else) lengthens each round trip and costs it throughput. Bulk beside the instant
 * orders ÷ bulk beside the control load says what the lane costs beyond the CPU it takes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { topicName } from '../platform/topics.ts';
import { smscOf } from '../test/support/smsc.ts';
import { startSmtpSink } from '../test/support/smtp-sink.ts';
import { sampleEmail, sampleSms } from '../test/support/stack.ts';
import {
  benchClients,
  benchToken,
  cpuSeconds,
  dropRun,
  kafkaRequestCounts,
  perOrderLine,
  senderEnv,
  stackCpuSeconds,
  STAGES_RUNNING,
  startGateway,
  startProcess,
  stopProcesses,
  quantile,
  sleep,
} from './support.ts';

const INSTANT_PER_SECOND = 5;

export async function instantBench(
  N: number,
  seconds: number,
  tps: number,
  /** the control's busy loop, in cores; 'auto': the CPU the instant orders took (`instantCores`) */
  load: number | 'auto' = 'auto',
): Promise<void> {
  const { prefix, kafka, codec } = await benchClients('instant');
  if (!process.env.SMSC_HOST || !process.env.SMSC_CONTROL_URL)
    throw new Error('SMSC_HOST and SMSC_CONTROL_URL must be set');
  const systemId = `bench-${randomUUID().slice(0, 8)}`;
  const smsc = smscOf(systemId);
  const sink = await startSmtpSink();
  const { publicKeyFile, token } = await benchToken('bench');
  const processes: { child: ChildProcess; port: number }[] = [];
  try {
    const common = { TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' };
    processes.push(
      await startProcess(
        'processors/main.ts',
        { ...senderEnv(prefix, sink.port, systemId, tps), STAGES: 'send-sms,send-email' },
        STAGES_RUNNING,
      ),
    );
    const gateway = await startGateway(common, publicKeyFile);
    processes.push(gateway);

    /** bulk hand-offs so far: the campaign's SMS the SMSC took, its emails the SMTP server took */
    const handedOff = async () => ({
      sms: (await smsc.texts()).filter((t) => t.startsWith('Kampanje')).length,
      email: sink.messages.filter((m) => m.rcptTo[0]?.startsWith('bulk-')).length,
    });
    /** CPU seconds so far of the senders, the gateway, Kafka, this process (clients, SMTP server) and Redis */
    const cpu = async () => {
      const stack = [...(await stackCpuSeconds())];
      const own = process.cpuUsage();
      return [
        await cpuSeconds(processes[0]!.child.pid!),
        await cpuSeconds(gateway.child.pid!),
        stack.filter(([n]) => n.startsWith('kafka')).reduce((a, [, v]) => a + v, 0),
        (own.user + own.system) / 1e6,
        stack.filter(([n]) => n.startsWith('redis')).reduce((a, [, v]) => a + v, 0),
      ];
    };
    /** the Kafka requests the senders and the gateway have made so far, by API */
    const requests = () => kafkaRequestCounts([processes[0]!.port, gateway.port]);
    const window = async (during: () => Promise<void>) => {
      const before = await handedOff();
      const cpuBefore = await cpu();
      const requestsBefore = await requests();
      const started = performance.now();
      await during();
      const after = await handedOff();
      const s = (performance.now() - started) / 1000;
      const used = (await cpu()).map((c, i) => (c - cpuBefore[i]!) / s);
      const asked = new Map([...(await requests())].map(([api, n]) => [api, n - (requestsBefore.get(api) ?? 0)]));
      return { s, sms: (after.sms - before.sms) / s, email: (after.email - before.email) / s, used, asked };
    };

    // instant orders through the gateway, 5/s of each; `alone` ones before the campaign is queued
    const base = `http://127.0.0.1:${gateway.port}/notifications/api/v1/future/orders/instant`;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const accepted = new Map<string, number>(); // instant SMS text or email address → 201 at
    const posts: Promise<void>[] = [];
    const post = async (kind: 'sms' | 'email', i: number, alone: boolean) => {
      const key =
        kind === 'sms' ? `${alone ? 'Alene' : 'Kode'} ${100000 + i}` : `${alone ? 'alene' : 'otp'}-${i}@example.com`;
      const body =
        kind === 'sms'
          ? {
              idempotencyId: randomUUID(),
              recipientSms: { phoneNumber: '+4799999999', timeToLiveInSeconds: 60, smsSettings: { body: key } },
            }
          : {
              idempotencyId: randomUUID(),
              recipientEmail: {
                emailAddress: key,
                emailSettings: { subject: 'Kode', body: `Din kode ${i}`, contentType: 'Plain' },
              },
            };
      const res = await fetch(`${base}/${kind}`, { method: 'POST', headers, body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`instant ${kind}: ${res.status} ${await res.text()}`);
      accepted.set(key, Date.now());
    };
    const instantOrders = (alone: boolean) => async () => {
      const until = performance.now() + seconds * 1000;
      for (let i = 0; performance.now() < until; i++) {
        posts.push(post('sms', i, alone), post('email', i, alone));
        await sleep(1000 / INSTANT_PER_SECOND);
      }
    };

    // what the instant orders cost with nothing else to do: a quiet window, then one of them
    // alone (the first few warm the path, outside both)
    for (let i = 0; i < 10; i++) await Promise.all([post('sms', -1 - i, true), post('email', -1 - i, true)]);
    await sleep(2_000);
    const quiet = await window(() => sleep(Math.min(seconds, 15) * 1000));
    const soloFrom = accepted.size;
    const solo = await window(instantOrders(true));
    await Promise.all(posts);
    const soloOrders = accepted.size - soloFrom;

    // the campaign, queued while the senders run (they start on it at once)
    const queued = Date.now();
    const producer = await kafka.plainProducer();
    for (let i = 0; i < N; i += 1000) {
      const n = Math.min(1000, N - i);
      const sms = Array.from({ length: n }, (_, j) => sampleSms(`Kampanje ${i + j}`, { creator: 'bench' }));
      const email = Array.from({ length: n }, (_, j) => sampleEmail(`bulk-${i + j}@example.com`, { creator: 'bench' }));
      await producer.send([
        ...(await Promise.all(
          sms.map(async (v) => ({
            topic: topicName(prefix, 'smsQueue'),
            key: v.notificationId,
            value: await codec.encode('smsQueue', v),
          })),
        )),
        ...(await Promise.all(
          email.map(async (v) => ({
            topic: topicName(prefix, 'emailQueue'),
            key: v.notificationId,
            value: await codec.encode('emailQueue', v),
          })),
        )),
      ]);
    }
    await producer.close();
    console.log(`campaign queued:        ${N} SMS and ${N} emails in ${((Date.now() - queued) / 1000).toFixed(0)} s`);
    // warm: both senders handing off
    for (let h = await handedOff(); h.sms < 50 || h.email < 50; h = await handedOff()) await sleep(200);
    await sleep(5_000);

    // bulk alone before and after the window with instant traffic, so a drift of the machine
    // over the run is not taken for the lane's cost
    const alone1 = await window(() => sleep(seconds * 1000));
    // bulk with instant orders through the gateway
    const withInstant = await window(instantOrders(false));
    await Promise.all(posts);
    // the control: the same length of time beside a busy loop, no instant order
    const lane = instantCores(alone1, withInstant);
    const loadCores = load === 'auto' ? lane.total : load;
    const control = await window(() => busyLoop(loadCores, seconds * 1000));
    const alone2 = await window(() => sleep(seconds * 1000));
    const left = await handedOff();
    if (left.email >= N || left.sms >= N)
      console.log('the campaign ran out before the last window ended: its figures are low; run with a larger --queued');
    const alone = {
      sms: (alone1.sms + alone2.sms) / 2,
      email: (alone1.email + alone2.email) / 2,
      used: alone1.used.map((u, i) => (u + alone2.used[i]!) / 2),
      asked: new Map([...alone1.asked].map(([api, n]) => [api, (n + (alone2.asked.get(api) ?? 0)) / 2])),
    };

    // every instant one handed off (or 30 s gone)
    const keys = (like: RegExp) => [...accepted.keys()].filter((k) => like.test(k));
    const [smsKeys, emailKeys] = [keys(/^Kode /), keys(/^otp-/)];
    // (the alone ones; not the first few, which warmed the path)
    const [soloSmsKeys, soloEmailKeys] = [keys(/^Alene 1\d{5}$/), keys(/^alene-\d+@/)];
    await sink
      .untilAll([...emailKeys, ...soloEmailKeys], sink.arrivals, 30_000, 'the instant emails')
      .catch((err: Error) => console.log(err.message));
    let submitted = new Map<string, number>();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const messages = await smsc.messages();
      submitted = new Map(
        messages.map((m) => [Buffer.from(m.shortMessageHex, 'hex').toString('latin1'), m.receivedAt] as const),
      );
      if ([...smsKeys, ...soloSmsKeys].every((k) => submitted.has(k)) || Date.now() > deadline) break;
      await sleep(500);
    }
    const smsLatency = (ks: string[]) =>
      ks.filter((k) => submitted.has(k)).map((k) => submitted.get(k)! - accepted.get(k)!);
    const emailLatency = (ks: string[]) =>
      ks.filter((k) => sink.arrivals.has(k)).map((k) => sink.arrivals.get(k)! - accepted.get(k)!);

    const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);
    // bulk alone drifts over a run (faster after than before, by 10-23 % in the runs of
    // 2026-12-04), which favours the control, the later window: bulk alone where window k of the
    // four ran, drawn straight from the first to the last
    const at = (k: number) => ({
      sms: alone1.sms + ((alone2.sms - alone1.sms) * (k - 1)) / 3,
      email: alone1.email + ((alone2.email - alone1.email) * (k - 1)) / 3,
    });
    const cores = (u: number[]) =>
      `senders ${u[0]!.toFixed(2)}, gateway ${u[1]!.toFixed(2)}, kafka ${u[2]!.toFixed(2)}, bench ${u[3]!.toFixed(2)}, redis ${u[4]!.toFixed(2)} cores`;
    console.log(
      `bulk alone (${seconds} s, before and after): SMS ${alone1.sms.toFixed(1)} and ${alone2.sms.toFixed(1)}/s, email ${alone1.email.toFixed(1)} and ${alone2.email.toFixed(1)}/s (${cores(alone.used)})`,
    );
    console.log(
      `bulk beside instant (${seconds} s): SMS ${withInstant.sms.toFixed(1)}/s, email ${withInstant.email.toFixed(1)}/s (${cores(withInstant.used)})`,
    );
    console.log(
      `bulk beside a busy loop of ${loadCores.toFixed(2)} cores${load === 'auto' ? ' (the CPU the instant orders took)' : ''}, no instant order (${seconds} s): SMS ${control.sms.toFixed(1)}/s, email ${control.email.toFixed(1)}/s (${cores(control.used)})`,
    );
    console.log(
      `bulk kept:                  SMS ${ratio(withInstant.sms, alone.sms).toFixed(2)}, email ${ratio(withInstant.email, alone.email).toFixed(2)} (target ≥ 0.90 each)`,
    );
    console.log(
      `bulk kept beside the loop:  SMS ${ratio(control.sms, alone.sms).toFixed(2)}, email ${ratio(control.email, alone.email).toFixed(2)} (what that much CPU taken costs bulk on this machine)`,
    );
    console.log(
      `beside instant ÷ beside the loop: SMS ${ratio(withInstant.sms, control.sms).toFixed(2)}, email ${ratio(withInstant.email, control.email).toFixed(2)}; each against bulk alone where it ran: SMS ${ratio(withInstant.sms / at(2).sms, control.sms / at(3).sms).toFixed(2)}, email ${ratio(withInstant.email / at(2).email, control.email / at(3).email).toFixed(2)} (the lane's cost beyond its CPU; the instant orders took ${lane.total.toFixed(2)} cores: senders ${lane.by[0]!.toFixed(2)}, gateway ${lane.by[1]!.toFixed(2)}, kafka ${lane.by[2]!.toFixed(2)}, bench ${lane.by[3]!.toFixed(2)}, redis ${lane.by[4]!.toFixed(2)}; the loop ${loadCores.toFixed(2)})`,
    );
    // what an instant order asks of Kafka: the instant window's requests beyond bulk alone's
    // (the same length of time; bulk runs a little slower beside instant orders, so a little low)
    console.log(
      perOrderLine(
        "Kafka requests per instant order (senders and gateway, beyond bulk alone's)",
        alone.asked,
        withInstant.asked,
        smsKeys.length + emailKeys.length,
      ),
    );
    // what an instant order costs with nothing else running: the window of them alone beyond
    // the quiet one, per order, by process
    const perSolo = solo.used.map((u, i) => ((u - quiet.used[i]!) * solo.s * 1000) / soloOrders);
    console.log(
      `instant orders alone, before the campaign (${soloOrders} in ${solo.s.toFixed(0)} s, beyond a quiet window of ${quiet.s.toFixed(0)} s): ` +
        `${perSolo.reduce((a, b) => a + b, 0).toFixed(1)} CPU-ms per order (senders ${perSolo[0]!.toFixed(1)}, gateway ${perSolo[1]!.toFixed(1)}, ` +
        `kafka ${perSolo[2]!.toFixed(1)}, bench ${perSolo[3]!.toFixed(1)}, redis ${perSolo[4]!.toFixed(1)}): ` +
        `${(solo.used.reduce((a, b) => a + b, 0) - quiet.used.reduce((a, b) => a + b, 0)).toFixed(2)} cores at ${2 * INSTANT_PER_SECOND}/s`,
    );
    console.log(
      perOrderLine(
        'Kafka requests per instant order alone (senders and gateway, beyond the quiet window)',
        new Map([...quiet.asked].map(([api, n]) => [api, (n * solo.s) / quiet.s])),
        solo.asked,
        soloOrders,
      ),
    );
    for (const [what, xs, of] of [
      ['instant SMS', smsLatency(smsKeys), smsKeys.length],
      ['instant email', emailLatency(emailKeys), emailKeys.length],
      ['instant SMS alone', smsLatency(soloSmsKeys), soloSmsKeys.length],
      ['instant email alone', emailLatency(soloEmailKeys), soloEmailKeys.length],
    ] as const)
      console.log(
        `${what.padEnd(19)} accept → hand-off: ${xs.length} of ${of} handed off, p50 ${quantile(xs, 0.5).toFixed(0)} ms, p99 ${quantile(xs, 0.99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (target p99 < 1000 ms)`,
      );
  } finally {
    await stopProcesses(
      processes.map((p) => p.child),
      'SIGKILL',
    );
    await sink.close();
    await kafka.close();
    await dropRun(prefix);
  }
}

/**
 * The CPU the instant orders took in their window, by process (senders, gateway, Kafka, this
 * one): what each took there beyond its bulk share, bulk's share being what it took alone scaled
 * by bulk's hand-offs then over alone (bulk runs slower beside the instant orders, and takes less
 * CPU with it: the plain difference hid most of the lane's CPU, 0.08 cores where gateway and
 * Kafka alone took 0.14 more). A model: each process's bulk CPU goes with bulk's rate.
 */
export function instantCores(
  alone: { sms: number; email: number; used: number[] },
  beside: { sms: number; email: number; used: number[] },
): { total: number; by: number[] } {
  const rate = alone.sms + alone.email > 0 ? (beside.sms + beside.email) / (alone.sms + alone.email) : 1;
  const by = beside.used.map((u, i) => Math.max(0, u - alone.used[i]! * rate));
  return { total: by.reduce((a, b) => a + b, 0), by };
}

/**
 * `cores` of CPU taken for `ms`: as many processes as whole cores it needs, each busy the same
 * share of every 20 ms.
 */
async function busyLoop(cores: number, ms: number): Promise<void> {
  if (cores <= 0) return sleep(ms);
  const n = Math.ceil(cores);
  const busyMs = Math.round((20 * cores) / n);
  const loops = Array.from({ length: n }, () =>
    spawn(process.execPath, [
      '-e',
      `setInterval(() => { const end = Date.now() + ${busyMs}; while (Date.now() < end); }, 20)`,
    ]),
  );
  try {
    await sleep(ms);
  } finally {
    for (const l of loops) l.kill('SIGKILL');
  }
}
