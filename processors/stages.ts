import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Config } from '../platform/config.ts';
import type { KafkaAdapter } from '../platform/kafka/adapter.ts';
import type { Logger } from '../platform/logger.ts';
import { ScheduleStore } from '../platform/redis/schedule-store.ts';
import { createRedis, type Redis } from '../platform/redis/client.ts';
import type { AvroCodec } from '../platform/schemas/codec.ts';
import type { NotificationOrder } from '../platform/schemas/generated/order.ts';
import type { StatusEvent } from '../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../platform/status.ts';
import { TOPICS, topicName, type TopicKey } from '../platform/topics.ts';
import { ConditionClient } from '../platform/http/condition-client.ts';
import { EgressGuard } from '../platform/http/egress.ts';
import { RegistryClient } from '../platform/registry/client.ts';
import { evaluateConditionStage } from './evaluate-condition/stage.ts';
import { enrichRecipientsStage } from './enrich-recipients/stage.ts';
import { passthroughStage } from './passthrough/stage.ts';
import { resolveChannelStage } from './resolve-channel/stage.ts';
import type { Stage } from './runtime/stage.ts';
import { Releaser, type ReleaserOptions } from './scheduler/releaser.ts';
import { schedulerStage } from './scheduler/stage.ts';
import { scheduleWindowStage } from './schedule-window/stage.ts';
import { orderViewStage } from './order-view/stage.ts';
import { sendEmailStage } from './send-email/stage.ts';
import { ReceiptTracker } from './send-sms/receipts.ts';
import { sendSmsStage } from './send-sms/stage.ts';
import { SmppClient } from '../platform/smpp/client.ts';
import { Mailer } from '../platform/smtp/mailer.ts';
import { SendLedger } from '../platform/redis/send-ledger.ts';
import { DeliveryRefs } from '../platform/redis/delivery-refs.ts';
import { createThrottle } from '../platform/throttle.ts';
import { statusViewStage } from './status-view/stage.ts';
import { ViewStore } from '../platform/view/store.ts';

/** A long-lived part that runs beside a stage in its process (e.g. the scheduler's releaser). */
export interface Service {
  start(): void;
  close(): Promise<void>;
  health(): { ok: boolean; [k: string]: unknown };
}

export interface StageDeps {
  env: Record<string, string | undefined>;
  config: Config;
  kafka: KafkaAdapter;
  codec: AvroCodec;
  logger: Logger;
  registry: Registry;
  /** the process's Redis connection (created on first use; fails without REDIS_URL) */
  redis: () => Redis;
  clock: () => number;
}

/**
 * A process's stage deps: the real clock, its environment, and one Redis connection made on
 * first use (an error without REDIS_URL), which `closeRedis` ends.
 */
export function stageDeps(
  base: Pick<StageDeps, 'config' | 'kafka' | 'codec' | 'logger' | 'registry'>,
): StageDeps & { closeRedis: () => void } {
  let redis: Redis | null = null;
  return {
    ...base,
    env: process.env,
    clock: () => Date.now(),
    redis: () => {
      if (!base.config.REDIS_URL) throw new Error('REDIS_URL is required by the stages named');
      return (redis ??= createRedis(base.config.REDIS_URL));
    },
    closeRedis: () => redis?.disconnect(),
  };
}

export interface StageBundle {
  stage: Stage;
  services: Service[];
}

const topicKey = z.enum(Object.keys(TOPICS) as [TopicKey, ...TopicKey[]]);

/** Every stage this build can run, by name. */
export const STAGES: Record<string, (deps: StageDeps) => StageBundle> = {
  passthrough: ({ env }) => ({
    stage: passthroughStage(
      topicKey.parse(env.PASSTHROUGH_INPUT ?? 'orders'),
      topicKey.parse(env.PASSTHROUGH_OUTPUT ?? 'ordersDue'),
    ),
    services: [],
  }),
  scheduler: (deps) => {
    const { store, releaser } = scheduled(deps, 'scheduler', 'orders:', 'ordersDue', (value, now) => {
      const order = value as NotificationOrder;
      return [{ topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Processing', now) }];
    });
    return {
      stage: schedulerStage({ store, clock: deps.clock, onDue: () => releaser.wake() }),
      services: [releaser],
    };
  },
  'enrich-recipients': ({ config, clock }) => {
    if (!config.REGISTRY_URL) throw new Error('REGISTRY_URL is required by enrich-recipients');
    const registry = new RegistryClient({
      baseUrl: config.REGISTRY_URL,
      timeoutMs: config.REGISTRY_TIMEOUT_MS,
      breakerThreshold: config.REGISTRY_BREAKER_THRESHOLD,
      breakerHalfOpenAfterMs: config.REGISTRY_BREAKER_HALF_OPEN_MS,
    });
    return { stage: enrichRecipientsStage({ registry, clock }), services: [] };
  },
  'evaluate-condition': (deps) => {
    const { config } = deps;
    const { store, releaser } = scheduled(deps, 'condition-retry', 'condition-retry:', 'ordersEnriched');
    const guard = new EgressGuard({
      allowLoopback: config.EGRESS_ALLOW_LOOPBACK,
      allowPrivate: config.EGRESS_ALLOW_PRIVATE,
    });
    const client = new ConditionClient({ guard, timeoutMs: config.CONDITION_TIMEOUT_MS });
    return {
      stage: evaluateConditionStage({
        client,
        retryStore: store,
        retryDelayMs: config.CONDITION_RETRY_DELAY_MS,
        clock: deps.clock,
      }),
      services: [releaser],
    };
  },
  'resolve-channel': ({ config, clock }) => ({
    stage: resolveChannelStage({
      window: {
        zone: config.SMS_WINDOW_ZONE,
        startHour: config.SMS_WINDOW_START_HOUR,
        endHour: config.SMS_WINDOW_END_HOUR,
      },
      clock,
    }),
    services: [],
  }),
  'send-email': (deps) => {
    const { config } = deps;
    if (!config.SMTP_HOST) throw new Error('SMTP_HOST is required by send-email');
    const mailer = new Mailer({
      host: config.SMTP_HOST,
      port: config.SMTP_PORT,
      secure: config.SMTP_SECURE,
      user: config.SMTP_USER,
      pass: config.SMTP_PASS,
      poolSize: config.SMTP_POOL_SIZE,
      rejectUnauthorized: config.SMTP_TLS_REJECT_UNAUTHORIZED,
      timeoutMs: config.SMTP_TIMEOUT_MS,
    });
    const ledger = new SendLedger(
      deps.redis(),
      `${config.REDIS_PREFIX ?? config.TOPIC_PREFIX}email-`,
      config.SEND_LEDGER_TTL_S,
    );
    return {
      stage: sendEmailStage({
        mailer,
        ledger,
        refs: new DeliveryRefs(
          deps.redis(),
          `${config.REDIS_PREFIX ?? config.TOPIC_PREFIX}email-`,
          config.SEND_LEDGER_TTL_S,
        ),
        throttle: createThrottle(config.EMAIL_RATE_PER_SECOND),
        clock: deps.clock,
        // one message under way per pooled connection
        concurrency: config.SMTP_POOL_SIZE,
      }),
      services: [
        {
          start: () => undefined,
          close: async () => mailer.close(),
          health: () => ({ ok: true, name: 'smtp-pool' }),
        },
      ],
    };
  },
  'send-sms': (deps) => {
    const { config } = deps;
    if (!config.SMSC_HOST) throw new Error('SMSC_HOST is required by send-sms');
    const prefix = `${config.REDIS_PREFIX ?? config.TOPIC_PREFIX}sms-`;
    let producer: ReturnType<KafkaAdapter['plainProducer']> | null = null;
    const receipts = new ReceiptTracker(deps.redis(), prefix, config.SEND_LEDGER_TTL_S, async (event) => {
      const p = await (producer ??= deps.kafka.plainProducer());
      await p.send([
        {
          topic: topicName(config.TOPIC_PREFIX, 'status'),
          key: event.orderId,
          value: await deps.codec.encode('status', event),
        },
      ]);
    });
    const client = new SmppClient(
      {
        host: config.SMSC_HOST,
        port: config.SMSC_PORT,
        systemId: config.SMPP_SYSTEM_ID,
        password: config.SMPP_PASSWORD,
        ...(config.SMPP_SYSTEM_TYPE ? { systemType: config.SMPP_SYSTEM_TYPE } : {}),
        window: config.SMPP_WINDOW,
        tps: config.SMPP_TPS,
        enquireLinkMs: config.SMPP_ENQUIRE_LINK_MS,
        responseTimeoutMs: config.SMPP_RESPONSE_TIMEOUT_MS,
      },
      (r) => receipts.onReceipt(r),
      deps.logger.child({ component: 'smpp' }),
    );
    return {
      stage: sendSmsStage({
        smpp: client,
        ledger: new SendLedger(deps.redis(), prefix, config.SEND_LEDGER_TTL_S),
        receipts,
        clock: deps.clock,
        // enough notifications under way to fill the SMPP window
        concurrency: config.SMPP_WINDOW,
      }),
      services: [
        {
          start: () => client.start(),
          close: async () => {
            await client.close();
            await (await producer)?.close();
          },
          health: () => ({ ok: client.isBound, name: 'smpp-session', bound: client.isBound }),
        },
      ],
    };
  },
  'order-view': (deps) => ({ stage: orderViewStage({ view: viewStore(deps) }), services: [] }),
  'status-view': (deps) => {
    const { store, releaser } = scheduled(
      deps,
      'notification-expiry',
      'expiry:',
      'status',
      undefined,
      (value) => (value as StatusEvent).orderId,
    );
    return {
      stage: statusViewStage({
        view: viewStore(deps),
        clock: deps.clock,
        expiry: { store, graceMs: deps.config.NOTIFICATION_EXPIRY_GRACE_MS },
      }),
      services: [releaser],
    };
  },
  'schedule-window': (deps) => {
    const { config } = deps;
    const { store, releaser } = scheduled(deps, 'schedule-window', 'sms-window:', 'smsQueue');
    const window = {
      zone: config.SMS_WINDOW_ZONE,
      startHour: config.SMS_WINDOW_START_HOUR,
      endHour: config.SMS_WINDOW_END_HOUR,
    };
    return { stage: scheduleWindowStage({ store, window, clock: deps.clock }), services: [releaser] };
  },
};

/** The read model behind the API, under the environment's Redis prefix. */
export function viewStore(deps: Pick<StageDeps, 'config' | 'redis'>): ViewStore {
  return new ViewStore(deps.redis(), deps.config.REDIS_PREFIX ?? deps.config.TOPIC_PREFIX);
}

/** A schedule store under its own Redis prefix, and the releaser that publishes what falls due. */
function scheduled(
  deps: StageDeps,
  name: string,
  keyPrefix: string,
  output: TopicKey,
  alsoEmit?: ReleaserOptions['alsoEmit'],
  keyOf?: ReleaserOptions['keyOf'],
) {
  const { config } = deps;
  const store = new ScheduleStore(deps.redis(), `${config.REDIS_PREFIX ?? config.TOPIC_PREFIX}${keyPrefix}`);
  const releaser = new Releaser(
    {
      store,
      kafka: deps.kafka,
      codec: deps.codec,
      topicPrefix: config.TOPIC_PREFIX,
      clientId: config.KAFKA_CLIENT_ID,
      logger: deps.logger,
      registry: deps.registry,
      clock: deps.clock,
    },
    {
      name,
      output,
      ...(alsoEmit ? { alsoEmit } : {}),
      ...(keyOf ? { keyOf } : {}),
      leaseMs: config.SCHEDULER_LEASE_MS,
      batchSize: config.SCHEDULER_BATCH_SIZE,
      lanes: config.SCHEDULER_RELEASE_LANES,
      pollMs: config.SCHEDULER_POLL_MS,
      leaderTtlMs: config.SCHEDULER_LEADER_TTL_MS,
      passLeaseMs: config.SCHEDULER_PASS_LEASE_MS,
    },
  );
  return { store, releaser };
}
