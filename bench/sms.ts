/**
 * SMS egress (`./dev bench --suite sms [--records N]`): N SMS through the send-sms stage to the
 * SMSC simulator at a configured TPS; prints submits per second as a share of that TPS (what
 * the pacing lets through), and how many of the N receipts were matched to their notification.
 */
import { randomUUID } from 'node:crypto';
import { createRegistry, createStageMetrics } from '../platform/metrics.ts';
import { SharedAccountLimit } from '../platform/redis/account-limits.ts';
import { createRedis, redisConnection } from '../platform/redis/client.ts';
import { SendLedger } from '../platform/redis/send-ledger.ts';
import type { SmsNotification } from '../platform/schemas/generated/sms-notification.ts';
import { SmppClient } from '../platform/smpp/client.ts';
import { topicName } from '../platform/topics.ts';
import { StageRunner } from '../processors/runtime/runner.ts';
import { ReceiptTracker } from '../processors/send-sms/receipts.ts';
import { sendSmsStage } from '../processors/send-sms/stage.ts';
import { sampleSms } from '../test/support/stack.ts';
import { benchClients, benchLogger, dropRun } from './support.ts';

export async function smsBench(N: number, tps: number): Promise<void> {
  const { prefix, config, logger, kafka, codec } = await benchClients('sms');
  const systemId = `bench-${randomUUID().slice(0, 8)}`;
  const all: SmsNotification[] = Array.from({ length: N }, (_, i) => sampleSms(`Benchmark ${i}`, { creator: 'bench' }));
  const producer = await kafka.plainProducer();
  for (let i = 0; i < N; i += 1000) {
    await producer.send(
      await Promise.all(
        all.slice(i, i + 1000).map(async (n) => ({
          topic: topicName(prefix, 'smsQueue'),
          key: n.notificationId,
          value: await codec.encode('smsQueue', n),
        })),
      ),
    );
  }
  const redis = createRedis(redisConnection(config), benchLogger);
  const reported = new Set<string>();
  let allMatched!: () => void;
  const matched = new Promise<void>((r) => (allMatched = r));
  const receipts = new ReceiptTracker(redis, `${prefix}sms-`, 3600, async (event) => {
    if (event.status === 'SMS_Delivered') reported.add(event.notificationId!);
    if (reported.size === N) allMatched();
  });
  let firstSubmit = 0;
  let lastSubmit = 0;
  let submits = 0;
  const client = new SmppClient(
    {
      host: process.env.SMSC_HOST ?? '127.0.0.1',
      port: Number(process.env.SMSC_PORT ?? 2775),
      systemId,
      password: 'secret',
      limit: new SharedAccountLimit(redis, `${prefix}limits:smpp:`, {
        perSecond: tps,
        window: config.SMPP_WINDOW,
        leaseMs: 20_000,
      }),
      enquireLinkMs: 30_000,
      responseTimeoutMs: 10_000,
    },
    (r) => receipts.onReceipt(r),
    logger,
  );
  const counted = {
    submit: async (fields: Record<string, unknown>) => {
      const r = await client.submit(fields);
      if (r.kind === 'accepted') {
        if (submits === 0) firstSubmit = performance.now();
        submits++;
        lastSubmit = performance.now();
      }
      return r;
    },
  };
  client.start();
  const ledger = new SendLedger(redis, `${prefix}sms-`, 3600);
  const runner = new StageRunner(
    sendSmsStage({
      providers: [{ name: 'default', smpp: counted, receipts }],
      ledger,
      clock: Date.now,
      concurrency: config.SMPP_WINDOW,
    }),
    { kafka, codec, config, logger, metrics: createStageMetrics(createRegistry(false)) },
  );
  await runner.start();
  const timeout = setTimeout(() => allMatched(), Math.max(120_000, (N / tps) * 3000));
  await matched;
  clearTimeout(timeout);
  await runner.close();
  await client.close();
  await ledger.close();
  await producer.close();
  redis.disconnect();
  await kafka.close();
  await dropRun(prefix);
  const rate = (submits - 1) / ((lastSubmit - firstSubmit) / 1000);
  console.log(`SMS:                   ${N} (window ${config.SMPP_WINDOW}, SMSC simulator on 127.0.0.1)`);
  console.log(`configured TPS:        ${tps}`);
  console.log(`submit_sm accepted/s:  ${rate.toFixed(1)} (first to last accepted submit)`);
  console.log(`share of TPS:          ${((100 * rate) / tps).toFixed(1)} %  (target ≥ 95 %)`);
  console.log(
    `receipts matched:      ${reported.size} of ${N} (${((100 * reported.size) / N).toFixed(1)} %, target 100 %)`,
  );
}
