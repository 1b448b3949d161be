import { madeOnce } from '../../platform/retry.ts';
import { SharedAccountLimit } from '../../platform/redis/account-limits.ts';
import { SmppClient, type SubmitFields } from '../../platform/smpp/client.ts';
import { topicName } from '../../platform/topics.ts';
import { deliveryMetric, providerMetrics } from '../../platform/metrics.ts';
import { handOffMetric, redisPrefix, replicaWait, senderLedger, type StageModule } from '../runtime/wiring.ts';
import { ReceiptTracker } from './receipts.ts';
import { smsProviders } from './options.ts';
import { DEFAULT_PROVIDER, parseRoutes, ProviderHealth } from './routes.ts';
import { sendSmsStage } from './stage.ts';

/**
 * send-sms: submits each SMS over SMPP at most once and matches its receipts (SMSC_*, SMPP_*);
 * instant SMS in a lane of their own (`send-sms.instant`, on `sms.instant`).
 */
export const sendSms: StageModule = {
  name: 'send-sms',
  build: (deps) => {
    const { config } = deps;
    const accounts = smsProviders(config);
    if (accounts.length === 0) throw new Error('SMSC_HOST or SMPP_PROVIDERS is required by send-sms');
    const { routes } = parseRoutes(
      config.SMS_ROUTES,
      accounts.map((a) => a.name),
    );
    const prefix = `${redisPrefix(config)}sms-`;
    // the status producer of the receipts, made at the first receipt (and again after a failure)
    const producer = madeOnce(() => deps.kafka.plainProducer());
    const delivered = deliveryMetric(deps.registry, 'sms', deps.clock);
    const provider = providerMetrics(deps.registry);
    const submits = provider.submits;
    const healthOptions = {
      receiptSilenceMs: config.SMS_ROUTE_RECEIPT_SILENCE_MS,
      cooldownMs: config.SMS_ROUTE_COOLDOWN_MS,
    };
    const bound = accounts.map((account) => {
      // each provider numbers its messages on its own: its receipts are matched under its own
      // keys (the default provider's are where a single SMSC's always were)
      const own = account.name === DEFAULT_PROVIDER ? '' : `${account.name}:`;
      const receipts = new ReceiptTracker(
        deps.redis(),
        `${prefix}${own}`,
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
        delivered,
        config.SMPP_RECEIPT_TEXT_ID_RADIX,
        account.name,
        // (written and waited for with the ledger's claims)
        replicaWait(deps, 'send-ledger') ?? undefined,
      );
      // The account's TPS and window, shared by every instance. The queue's SMS take a place only
      // while more than the instant lane's reserve is free; the instant lane's take any free place
      // (the same Redis keys, a smaller window for the one than for the other).
      const accountLimit = (window: number) =>
        new SharedAccountLimit(deps.redis(), `${redisPrefix(config)}limits:smpp:${own}`, {
          perSecond: account.tps,
          window,
          // a submit ends by its answer or its timeout; a place held longer is a dead holder's
          leaseMs: config.SMPP_RESPONSE_TIMEOUT_MS + 5_000,
        });
      const instantLimit = accountLimit(account.window);
      let state: ProviderHealth | null = null;
      const client = new SmppClient(
        {
          host: account.host,
          port: account.port,
          systemId: account.systemId,
          password: account.password,
          ...(account.systemType ? { systemType: account.systemType } : {}),
          limit: accountLimit(account.window - account.instantReserve),
          enquireLinkMs: config.SMPP_ENQUIRE_LINK_MS,
          responseTimeoutMs: config.SMPP_RESPONSE_TIMEOUT_MS,
          onSubmitted: (kind) => submits.labels({ result: kind }).inc(),
          // with other providers to turn to, an SMS does not wait for this one's bind
          ...(accounts.length > 1 ? { bindWaitMs: 1_000 } : {}),
        },
        (r) => {
          state?.receipt();
          return receipts.onReceipt(r);
        },
        deps.logger.child({ component: 'smpp', provider: account.name }),
      );
      state = new ProviderHealth(() => client.isBound, healthOptions, deps.clock);
      provider.smpp.add(client);
      const health = state;
      provider.smsProviders.set(account.name, () => health.state().up);
      return { account, client, receipts, health: state, instantLimit };
    });
    const ledger = senderLedger(deps, prefix);
    const ports = {
      providers: bound.map((b) => ({ name: b.account.name, smpp: b.client, receipts: b.receipts, health: b.health })),
      routes,
      ledger,
      clock: deps.clock,
      handedOff: handOffMetric(deps, 'sms'),
      // enough notifications under way to fill the SMPP windows
      concurrency: bound.reduce((n, b) => n + b.account.window, 0),
    };
    return {
      stage: sendSmsStage(ports),
      // instant SMS: their own topic and consumer group, the same sessions, any free place
      lanes: [
        sendSmsStage(
          {
            ...ports,
            providers: bound.map((b) => ({
              name: b.account.name,
              smpp: { submit: (fields: SubmitFields) => b.client.submit(fields, b.instantLimit) },
              receipts: b.receipts,
              health: b.health,
            })),
            // as many under way as it has places kept for it: a crash leaves no more in doubt
            concurrency: Math.max(
              1,
              bound.reduce((n, b) => n + b.account.instantReserve, 0),
            ),
          },
          'smsInstant',
        ),
      ],
      services: [
        {
          start: () => {
            for (const b of bound) b.client.start();
          },
          // the sessions first (a receipt under way still publishes), then the receipts' producer;
          // the stages are drained: no claim is left to protect by saying this process lives
          close: async () => {
            await Promise.all([...bound.map((b) => b.client.close()), ledger.close()]);
            await (await producer.made())?.close();
          },
          // up while any provider is bound (the others' SMS go to it, or wait for theirs)
          health: () => ({
            ok: bound.some((b) => b.client.isBound),
            name: 'smpp-session',
            bound: bound.every((b) => b.client.isBound),
            providers: Object.fromEntries(bound.map((b) => [b.account.name, b.health.state()])),
          }),
        },
      ],
    };
  },
};
