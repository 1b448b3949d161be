import { madeOnce } from '../../platform/retry.ts';
import { SharedAccountLimit } from '../../platform/redis/account-limits.ts';
import { SendLedger } from '../../platform/redis/send-ledger.ts';
import { SmppClient } from '../../platform/smpp/client.ts';
import { topicName } from '../../platform/topics.ts';
import { deliveryMetric, providerMetrics } from '../../platform/metrics.ts';
import { handOffMetric, redisPrefix, type StageModule } from '../runtime/wiring.ts';
import { ReceiptTracker } from './receipts.ts';
import { instantReserve } from './options.ts';
import { sendSmsStage } from './stage.ts';

/**
 * send-sms: submits each SMS over SMPP at most once and matches its receipts (SMSC_*, SMPP_*);
 * instant SMS in a lane of their own (`send-sms.instant`, on `sms.instant`).
 */
export const sendSms: StageModule = {
  name: 'send-sms',
  build: (deps) => {
    const { config } = deps;
    if (!config.SMSC_HOST) throw new Error('SMSC_HOST is required by send-sms');
    const prefix = `${redisPrefix(config)}sms-`;
    // the status producer of the receipts, made at the first receipt (and again after a failure)
    const producer = madeOnce(() => deps.kafka.plainProducer());
    const receipts = new ReceiptTracker(
      deps.redis(),
      prefix,
      config.SEND_LEDGER_TTL_S,
      async (event) => {
        const p = await producer.get();
        await p.send([
          {
            topic: topicName(config.TOPIC_PREFIX, 'status'),
            key: event.orderId,
            value: await deps.codec.encode('status', event),
          },
        ]);
      },
      deps.clock,
      deliveryMetric(deps.registry, 'sms', deps.clock),
      config.SMPP_RECEIPT_TEXT_ID_RADIX,
    );
    const provider = providerMetrics(deps.registry);
    const submits = provider.submits;
    // The account's TPS and window, shared by every instance. The queue's SMS take a place only
    // while more than the instant lane's reserve is free; the instant lane's take any free place
    // (the same Redis keys, a smaller window for the one than for the other).
    const accountLimit = (window: number) =>
      new SharedAccountLimit(deps.redis(), `${redisPrefix(config)}limits:smpp:`, {
        perSecond: config.SMPP_TPS,
        window,
        // a submit ends by its answer or its timeout; a place held longer is a dead holder's
        leaseMs: config.SMPP_RESPONSE_TIMEOUT_MS + 5_000,
      });
    const instantLimit = accountLimit(config.SMPP_WINDOW);
    const client = new SmppClient(
      {
        host: config.SMSC_HOST,
        port: config.SMSC_PORT,
        systemId: config.SMPP_SYSTEM_ID,
        password: config.SMPP_PASSWORD,
        ...(config.SMPP_SYSTEM_TYPE ? { systemType: config.SMPP_SYSTEM_TYPE } : {}),
        limit: accountLimit(config.SMPP_WINDOW - instantReserve(config)),
        enquireLinkMs: config.SMPP_ENQUIRE_LINK_MS,
        responseTimeoutMs: config.SMPP_RESPONSE_TIMEOUT_MS,
        onSubmitted: (kind) => submits.labels({ result: kind }).inc(),
      },
      (r) => receipts.onReceipt(r),
      deps.logger.child({ component: 'smpp' }),
    );
    provider.smpp.add(client);
    const ports = {
      smpp: client,
      ledger: new SendLedger(deps.redis(), prefix, config.SEND_LEDGER_TTL_S),
      receipts,
      clock: deps.clock,
      handedOff: handOffMetric(deps, 'sms'),
      // enough notifications under way to fill the SMPP window
      concurrency: config.SMPP_WINDOW,
    };
    return {
      stage: sendSmsStage(ports),
      // instant SMS: their own topic and consumer group, the same session, any free place
      lanes: [
        sendSmsStage(
          {
            ...ports,
            smpp: { submit: (fields) => client.submit(fields, instantLimit) },
            // as many under way as it has places kept for it: a crash leaves no more in doubt
            concurrency: Math.max(1, instantReserve(config)),
          },
          'smsInstant',
        ),
      ],
      services: [
        {
          start: () => client.start(),
          close: async () => {
            await client.close();
            await (await producer.made())?.close();
          },
          health: () => ({ ok: client.isBound, name: 'smpp-session', bound: client.isBound }),
        },
      ],
    };
  },
};
