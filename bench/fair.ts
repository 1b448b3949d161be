/**
 * Fair share between creators (`./dev bench --suite fair [--queued N] [--window S] [--tps T]`):
 * one creator's campaign of N SMS (N/10 orders of ten recipients, a direct producer's burst on
 * the orders topic) and, while its backlog lasts, another creator's 100 orders through the
 * gateway, spread over S seconds. The chain runs in one stage process and send-sms in another,
 * the SMSC at T submits/s. Run twice side by side: with the fair share off (as the reference has
 * it) and on (FAIR_SHARE_SMS_PER_SECOND at 0.95 × T). Prints, for each, the campaign's hand-offs
 * per second alone (before and after) and beside the small creator, and the small creator's
 * accept (the gateway's 201) → hand-off (the SMSC's submit) p50 and p99 (target < 10 s, with the
 * campaign keeping ≥ 0.9 of what it has alone with the fair share off). `FAIR_SETTLE_MS` (default
 * 3,000): how long after the campaign's hand-offs are under way the windows begin.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { topicName } from '../platform/topics.ts';
import { smscOf } from '../test/support/smsc.ts';
import { sampleOrder } from '../test/support/stack.ts';
import { startSmtpSink } from '../test/support/smtp-sink.ts';
import { stageGroupId } from '../processors/runtime/runner.ts';
import {
  benchClients,
  benchToken,
  cpuSeconds,
  dropRun,
  senderEnv,
  STAGES_RUNNING,
  startGateway,
  startProcess,
  stopProcesses,
  quantile,
  sleep,
} from './support.ts';

const SMALL = 100;
const RECIPIENTS = 10;
const CHAIN = 'scheduler,enrich-recipients,evaluate-condition,resolve-channel,schedule-window';

interface Run {
  alone: [number, number];
  beside: number;
  latencies: number[];
  absorbed: number;
}

export async function fairRun(N: number, seconds: number, tps: number, fair: boolean): Promise<Run> {
  console.log(`\n--- fair share ${fair ? `on (FAIR_SHARE_SMS_PER_SECOND ${Math.floor(tps * 0.95)})` : 'off'} ---`);
  const { prefix, kafka, codec } = await benchClients(fair ? 'fairon' : 'fairoff');
  const systemId = `bench-${randomUUID().slice(0, 8)}`;
  const smsc = smscOf(systemId);
  const sink = await startSmtpSink();
  const { publicKeyFile, token } = await benchToken('small');
  const processes: { child: ChildProcess }[] = [];
  try {
    const env = {
      ...senderEnv(prefix, sink.port, systemId, tps),
      ...(fair ? { FAIR_SHARE_SMS_PER_SECOND: String(Math.floor(tps * 0.95)), FAIR_SHARE_BURST_SECONDS: '2' } : {}),
    };
    // the chain in one process, send-sms in another (as deployed: a burst the chain takes in
    // does not hold the sender up)
    const stages = await startProcess('processors/main.ts', { ...env, STAGES: CHAIN }, STAGES_RUNNING);
    processes.push(stages);
    const sender = await startProcess('processors/main.ts', { ...env, STAGES: 'send-sms' }, STAGES_RUNNING);
    processes.push(sender);
    const gateway = await startGateway({ TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' }, publicKeyFile);
    processes.push(gateway);

    const producer = await kafka.plainProducer();
    const place = async (creator: string, orders: number, recipients: number, text: string) => {
      for (let i = 0; i < orders; i += 500) {
        const batch = [];
        for (let j = i; j < Math.min(orders, i + 500); j++) {
          const order = sampleOrder(j, {
            creator,
            notificationChannel: 'Sms',
            requestedSendTime: Date.now(),
            emailTemplate: null,
            smsTemplate: { senderNumber: 'Altinn', body: `${text} ${j}` },
            recipients: Array.from({ length: recipients }, (_, r) => ({
              nationalIdentityNumber: null,
              organizationNumber: null,
              externalIdentity: null,
              emailAddress: null,
              mobileNumber: `+479${String(j * recipients + r).padStart(7, '0')}`,
              isReserved: null,
            })),
          });
          batch.push({
            topic: topicName(prefix, 'orders'),
            key: order.orderId,
            value: await codec.encode('orders', order),
          });
        }
        await producer.send(batch);
      }
    };
    const accepted = async () => (await smsc.stats()).accepted;
    // a running system is warm: 300 SMS through the chain and the sender first
    await place('warm-up', 30, RECIPIENTS, 'Oppvarming');
    while ((await accepted()) < 300) await sleep(500);

    // the campaign: a direct producer's burst of N/10 orders of ten SMS recipients each
    const orders = Math.ceil(N / RECIPIENTS);
    const burst = Date.now();
    await place('campaign', orders, RECIPIENTS, 'Kampanje');
    await producer.close();
    console.log(
      `campaign placed:            ${orders} orders (${orders * RECIPIENTS} SMS) in ${((Date.now() - burst) / 1000).toFixed(0)} s`,
    );

    /** SMS on sms.queue that send-sms has not taken yet (its group's lag; a few transaction markers included) */
    const queued = async () => {
      const ends = await kafka.topicEndOffsets(topicName(prefix, 'smsQueue'));
      const done = await kafka.groupOffsets(stageGroupId(prefix, 'send-sms'), topicName(prefix, 'smsQueue'));
      let lag = 0n;
      for (const [p, end] of ends) lag += BigInt(end) - (done.get(p) ?? 0n);
      return Number(lag);
    };
    // warm: the campaign handed off at its pace
    while ((await accepted()) < 300 + Math.min(N / 4, tps * 5)) await sleep(500);
    const absorbed = (Date.now() - burst) / 1000;
    await sleep(Number(process.env.FAIR_SETTLE_MS ?? 3_000));

    const window = async (during: () => Promise<void>) => {
      const before = await accepted();
      queues.push(await queued());
      const cpu0 = [await cpuSeconds(stages.child.pid!), await cpuSeconds(sender.child.pid!)];
      const started = Date.now();
      await during();
      const after = await accepted();
      cores.push([(await cpuSeconds(stages.child.pid!)) - cpu0[0]!, (await cpuSeconds(sender.child.pid!)) - cpu0[1]!]);
      return { handed: after - before, from: started, to: Date.now() };
    };
    const queues: number[] = [];
    const cores: [number, number][] = [];
    const alone1 = await window(() => sleep(seconds * 1000));

    const url = `http://127.0.0.1:${gateway.port}/notifications/api/v1/future/orders`;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const sent = new Map<string, number>(); // the small creator's SMS text → its 201
    const posts: Promise<void>[] = [];
    const post = async (i: number) => {
      const text = `Liten ${i}`;
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          idempotencyId: randomUUID(),
          recipient: {
            recipientSms: { phoneNumber: '+4799999999', smsSettings: { body: text, sendingTimePolicy: 'Anytime' } },
          },
        }),
      });
      if (res.status !== 201) throw new Error(`small order: ${res.status} ${await res.text()}`);
      sent.set(text, Date.now());
    };
    const beside = await window(async () => {
      for (let i = 0; i < SMALL; i++) {
        posts.push(post(i));
        await sleep((seconds * 1000) / SMALL);
      }
    });
    await Promise.all(posts);
    const alone2 = await window(() => sleep(seconds * 1000));

    // every small one handed off (or 60 s more)
    const deadline = Date.now() + 60_000;
    let taken = new Map<string, number>();
    for (;;) {
      const messages = (await smsc.messages()).filter((m) => m.shortMessageHex.startsWith('4c6974656e')); // "Liten"
      taken = new Map(messages.map((m) => [Buffer.from(m.shortMessageHex, 'hex').toString('latin1'), m.receivedAt]));
      if (taken.size >= SMALL || Date.now() > deadline) break;
      await sleep(1_000);
    }
    const small = (from: number, to: number) => [...taken.values()].filter((t) => t >= from && t < to).length;
    const rate = (w: { handed: number; from: number; to: number }) =>
      (w.handed - small(w.from, w.to)) / ((w.to - w.from) / 1000);
    const latencies = [...sent].filter(([k]) => taken.has(k)).map(([k, at]) => taken.get(k)! - at);
    const r: Run = {
      alone: [rate(alone1), rate(alone2)],
      beside: rate(beside),
      latencies,
      absorbed,
    };
    console.log(
      `campaign alone:             ${r.alone[0].toFixed(1)} and ${r.alone[1].toFixed(1)} SMS/s (${seconds} s before and after; the SMSC takes ${tps}/s)`,
    );
    console.log(`campaign beside the small:  ${r.beside.toFixed(1)} SMS/s`);
    console.log(`queued for send-sms:        ${queues.join(', ')} SMS at each window's start`);
    console.log(
      `cores used (chain, send-sms): ${cores.map(([a, b]) => `${(a / seconds).toFixed(2)} and ${(b / seconds).toFixed(2)}`).join('; ')} in each window`,
    );
    console.log(
      `small creator:              ${latencies.length} of ${SMALL} handed off, accept → hand-off p50 ${(quantile(latencies, 0.5) / 1000).toFixed(1)} s, p99 ${(quantile(latencies, 0.99) / 1000).toFixed(1)} s`,
    );
    return r;
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

export async function fairBench(N: number, seconds: number, tps: number): Promise<void> {
  const off = await fairRun(N, seconds, tps, false);
  const on = await fairRun(N, seconds, tps, true);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const p99 = (r: Run) =>
    r.latencies.length < SMALL
      ? `${r.latencies.length} of ${SMALL} handed off within the run (the rest still behind the campaign)`
      : `${(quantile(r.latencies, 0.99) / 1000).toFixed(1)} s`;
  // the campaign's rate with the fair share off: the SMSC's, once the chain has taken the burst
  // in (the first window may still overlap that, so the larger of the two windows alone)
  const offAlone = Math.max(...off.alone);
  console.log('\n--- fair share, side by side ---');
  console.log(`small creator p99:          off ${p99(off)}; on ${p99(on)} (target < 10 s)`);
  console.log(
    `campaign kept:              ${(on.beside / offAlone).toFixed(2)} of its throughput alone with the fair share off, ${offAlone.toFixed(1)} SMS/s (target ≥ 0.90); ` +
      `${(on.beside / mean(on.alone)).toFixed(2)} of its own alone with it on`,
  );
}
