/**
 * Email throughput (`./dev bench --suite email [--records N]`): N email notifications through
 * the send-email stage (Kafka in, SMTP out, ledger in Redis, statuses out in transactions) into
 * an SMTP server in a process of its own (`smtp-sink-process.ts`), beside nodemailer sending the
 * same N messages directly over the same pool size to the same server, in the same run. The ratio is the stage's cost over bare SMTP. The stage is
 * wired as `processors/send-email/index.ts` wires it (send ledger, delivery refs, the account's
 * rate shared through Redis, unpaced here). It also prints where a hand-over slot's time goes:
 * the stage holds one of the pool's places from the rate limit to the server's answer (the
 * outcome's write, issued then, is answered before the place's next claim: what bounds the
 * emails a crash leaves in doubt to the pool; see senderStage), so the pool ÷ that time is the
 * stage's ceiling whatever its CPU. The outcome's write is timed too, outside the slot. And it
 * prints what each email costs this process's CPU each way (the stage's thread is the limit
 * when its CPU ratio is about its throughput ratio), and its system calls each way (every socket
 * write is one: SMTP's, and through the stage Redis' and Kafka's too).
 */
import { createRegistry, createStageMetrics } from '../platform/metrics.ts';
import type { EmailNotification } from '../platform/schemas/generated/email-notification.ts';
import { Mailer } from '../platform/smtp/mailer.ts';
import { SharedAccountLimit, limitThrottle } from '../platform/redis/account-limits.ts';
import { DeliveryRefs } from '../platform/redis/delivery-refs.ts';
import { topicName } from '../platform/topics.ts';
import { StageRunner } from '../processors/runtime/runner.ts';
import { replicaWait, senderLedger, stageDeps } from '../processors/runtime/wiring.ts';
import { sendEmailStage } from '../processors/send-email/stage.ts';
import { sampleEmail } from '../test/support/stack.ts';
import { benchClients, benchLogger, dropRun, ioBytes, startProcess } from './support.ts';

export async function emailBench(N: number): Promise<void> {
  const { prefix, config, logger, kafka, codec } = await benchClients('email');
  const sink = await startProcess(
    'bench/smtp-sink-process.ts',
    { SINK_EXPECT: String(N) },
    /"smtp sink listening","port":(\d+)/,
  );
  // when the sink has accepted every one of the stage's N (epoch ms, from its own line)
  const allAccepted = sink.until(/"msg":"all accepted","count":\d+,"at":(\d+)/, 600_000).then((m) => Number(m[1]));
  allAccepted.catch(() => undefined);
  const mailerOptions = {
    host: '127.0.0.1',
    port: sink.port,
    secure: false,
    poolSize: config.SMTP_POOL_SIZE,
    rejectUnauthorized: false,
    timeoutMs: 10_000,
  };
  const notifications: EmailNotification[] = Array.from({ length: N }, (_, i) =>
    sampleEmail(`user${i}@example.com`, {
      creator: 'bench',
      subject: 'Benchmark',
      body: 'Dette er en test av e-post.',
    }),
  );

  // direct: nodemailer over the same pool, all messages offered at once
  const direct = new Mailer(mailerOptions);
  const io0 = await ioBytes('self');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    notifications.map((n) =>
      direct.send({
        from: n.fromAddress,
        to: n.toAddress,
        subject: n.subject,
        body: n.body,
        html: false,
        headers: { 'X-Notification-Id': `direct-${n.notificationId}` },
      }),
    ),
  );
  const directRate = N / ((performance.now() - t0) / 1000);
  const directCpu = cpuMs(process.cpuUsage(cpu0));
  const directIo = ioDelta(io0, await ioBytes('self'));
  direct.close();

  // the stage: records pre-produced, then consumed, sent, reported
  const producer = await kafka.plainProducer();
  for (let i = 0; i < N; i += 1000) {
    await producer.send(
      await Promise.all(
        notifications.slice(i, i + 1000).map(async (n) => ({
          topic: topicName(prefix, 'emailQueue'),
          key: n.notificationId,
          value: await codec.encode('emailQueue', n),
        })),
      ),
    );
  }
  await producer.close();
  // the process's Redis connections, as the stage's process has them
  const deps = stageDeps({ config, kafka, codec, logger: benchLogger, registry: createRegistry(false) });
  const redis = deps.redis();
  const mailer = new Mailer(mailerOptions);
  // each step of a hand-over timed from outside the stage (the stage's own code untouched)
  const steps = new Map<string, { n: number; ms: number }>();
  const timed = <A extends unknown[], R>(step: string, f: (...a: A) => Promise<R>) => {
    steps.set(step, { n: 0, ms: 0 });
    return async (...a: A): Promise<R> => {
      const t = performance.now();
      try {
        return await f(...a);
      } finally {
        const s = steps.get(step)!;
        s.n++;
        s.ms += performance.now() - t;
      }
    };
  };
  // (with REDIS_WAIT_REPLICAS, each claim and delivery ref waits for that many replicas, as the stage's do)
  const ledger = senderLedger(deps, `${prefix}email-`);
  const refs = new DeliveryRefs(
    redis,
    `${prefix}email-`,
    3600,
    undefined,
    replicaWait(deps, 'send-ledger') ?? undefined,
  );
  const throttle = timed(
    'rate limit',
    limitThrottle(
      new SharedAccountLimit(redis, `${prefix}limits:smtp:`, { perSecond: 1_000_000, window: 0, leaseMs: 0 }),
    ),
  );
  ledger.begin = timed('ledger claim (Redis)', ledger.begin.bind(ledger));
  mailer.send = timed('SMTP exchange (from the pool)', mailer.send.bind(mailer));
  // (the ledger's outcome and the delivery ref leave in one round trip: timed as one)
  const OUTCOME = 'outcome and delivery ref (Redis)';
  ledger.done = timed(OUTCOME, ledger.done.bind(ledger));
  const runner = new StageRunner(
    sendEmailStage({
      mailer,
      // as processors/send-email/index.ts wires it: the ledger, the delivery refs, the shared rate
      ledger,
      refs,
      throttle,
      clock: Date.now,
      concurrency: config.SMTP_POOL_SIZE,
    }),
    { kafka, codec, config, logger, metrics: createStageMetrics(createRegistry(false)) },
  );
  const io1 = await ioBytes('self');
  const startedAt = Date.now();
  const cpu1 = process.cpuUsage();
  await runner.start();
  const stageRate = N / (((await allAccepted) - startedAt) / 1000);
  const stageCpu = cpuMs(process.cpuUsage(cpu1));
  const stageIo = ioDelta(io1, await ioBytes('self'));
  await runner.close();
  mailer.close();
  await ledger.close();
  deps.closeRedis();
  sink.child.kill('SIGTERM');
  await kafka.close();
  await dropRun(prefix);

  console.log(
    `emails:                          ${N} (SMTP pool of ${config.SMTP_POOL_SIZE}, server in its own process on 127.0.0.1)`,
  );
  console.log(`nodemailer direct:               ${directRate.toFixed(0)} emails/s`);
  console.log(`send-email stage (Kafka → SMTP): ${stageRate.toFixed(0)} emails/s (incl. joining the group)`);
  console.log(`ratio stage / direct:            ${(stageRate / directRate).toFixed(2)}`);
  // this process's CPU (the sink is another): what an email costs the sender, each way
  console.log(
    `CPU per email (this process):    direct ${((directCpu * 1000) / N).toFixed(0)} µs, stage ` +
      `${((stageCpu * 1000) / N).toFixed(0)} µs (direct ÷ stage ${(directCpu / stageCpu).toFixed(2)})`,
  );
  // each socket write and read is a system call (/proc/self/io): SMTP's both ways, Redis' and
  // Kafka's through the stage only (joining the group included; reading /proc twice)
  const perEmail = (n: number) => (n / N).toFixed(1);
  console.log(
    `system calls per email:          direct ${perEmail(directIo.writeCalls)} writes, ${perEmail(directIo.readCalls)} reads; ` +
      `stage ${perEmail(stageIo.writeCalls)} writes, ${perEmail(stageIo.readCalls)} reads`,
  );
  console.log(`the stage's hand-over slot (one of the pool's ${config.SMTP_POOL_SIZE}), mean per email:`);
  let slot = 0;
  for (const [step, { n, ms }] of steps) {
    const mean = n > 0 ? ms / n : 0;
    if (step === OUTCOME) continue;
    slot += mean;
    console.log(`  ${step.padEnd(36)} ${mean.toFixed(2)} ms`);
  }
  const outcome = steps.get(OUTCOME)!;
  console.log(
    `  (${OUTCOME}, after the place is given back: ${(outcome.n > 0 ? outcome.ms / outcome.n : 0).toFixed(2)} ms)`,
  );
  console.log(
    `  ${'in all'.padEnd(36)} ${slot.toFixed(2)} ms: a ceiling of ${config.SMTP_POOL_SIZE} ÷ ${slot.toFixed(2)} ms = ` +
      `${((config.SMTP_POOL_SIZE * 1000) / slot).toFixed(0)} emails/s (` +
      `${((config.SMTP_POOL_SIZE * 1000) / slot / directRate).toFixed(2)} of direct)`,
  );
}

/** what a process's system calls did between two readings of `ioBytes` */
const ioDelta = (a: Awaited<ReturnType<typeof ioBytes>>, b: Awaited<ReturnType<typeof ioBytes>>) => ({
  writeCalls: b.writeCalls - a.writeCalls,
  readCalls: b.readCalls - a.readCalls,
});

/** a `process.cpuUsage` difference in ms */
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
