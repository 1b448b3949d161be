import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../../platform/config.ts';
import { KafkaAdapter, kafkaConnection } from '../../platform/kafka/adapter.ts';
import { createLogger, type Logger } from '../../platform/logger.ts';
import { Redis, redisTlsOptions, type RedisOptions } from '../../platform/redis/client.ts';
import { createRegistry, createStageMetrics } from '../../platform/metrics.ts';
import { StageRunner } from '../../processors/runtime/runner.ts';
import type { Stage } from '../../processors/runtime/stage.ts';
import type { Registry } from 'prom-client';
import { AvroCodec } from '../../platform/schemas/codec.ts';
import type { EmailNotification } from '../../platform/schemas/generated/email-notification.ts';
import type { EnrichedOrder } from '../../platform/schemas/generated/enriched-order.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import { topicName, type TopicKey, type TopicValues } from '../../platform/topics.ts';

/**
 * The addresses of the real local stack, from the environment that `./dev test` exports.
 * Tests never fall back to mocks: without a stack they fail, loudly.
 */
const STACK_VARS = [
  'KAFKA_BROKERS',
  'SCHEMA_REGISTRY_URL',
  'REDIS_URL',
  'SMTP_HOST',
  'SMTP_PORT',
  'MAIL_WEB_URL',
  'SMSC_HOST',
  'SMSC_PORT',
  'SMSC_CONTROL_URL',
  'REGISTRY_URL',
  'BLOB_STORE_URL',
  'BLOB_STORE_CONTROL_URL',
  'BLOB_STORE_CA_FILE',
] as const;

export type StackEnv = Record<(typeof STACK_VARS)[number], string>;

/** How to reach Kafka and Redis on a secured stack (TLS, SASL): passed on wherever set. */
const SECURITY_VARS = [
  'KAFKA_SECURITY_PROTOCOL',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_SSL_CA_FILE',
  'REDIS_TLS_CA_FILE',
] as const;

export function securityEnv(): Record<string, string> {
  return Object.fromEntries(SECURITY_VARS.filter((n) => process.env[n]).map((n) => [n, process.env[n] as string]));
}

/** A Redis client on the stack's Redis, the way the pipeline connects (TLS and password included). */
export function testRedis(options: RedisOptions = {}): Redis {
  return new Redis(stackEnv().REDIS_URL, { ...redisTlsOptions(process.env.REDIS_TLS_CA_FILE), ...options });
}

export function stackEnv(): StackEnv {
  const missing = STACK_VARS.filter((n) => !process.env[n]);
  if (missing.length > 0) {
    throw new Error(`the local stack is not configured (${missing.join(', ')} unset): run the tests with ./dev test`);
  }
  return Object.fromEntries(STACK_VARS.map((n) => [n, process.env[n] as string])) as StackEnv;
}

/** A prefix no other test (or run) shares: topics, groups and keys live under it. */
export const uniquePrefix = (label: string) => `t-${label}-${randomUUID().slice(0, 8)}.`;

export function testConfig(prefix: string, overrides: Record<string, string> = {}): Config {
  const env = stackEnv();
  return loadConfig({
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL,
    REDIS_URL: env.REDIS_URL,
    ...securityEnv(),
    TOPIC_PREFIX: prefix,
    TOPIC_PARTITIONS: '3',
    // the stack's own (3 on a cluster stack)
    TOPIC_REPLICATION_FACTOR: process.env.TOPIC_REPLICATION_FACTOR ?? '1',
    STAGE_HTTP_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    RETRY_INITIAL_MS: '20',
    RETRY_MAX_MS: '200',
    // the suite runs in either transaction scope (stage processes it starts inherit it too)
    ...(process.env.TRANSACTION_SCOPE ? { TRANSACTION_SCOPE: process.env.TRANSACTION_SCOPE } : {}),
    ...overrides,
  });
}

/** A stage's runner on the test's clients; its metrics go to `registry` (a fresh one by default). */
export function testRunner(
  stage: Stage,
  deps: { kafka: KafkaAdapter; codec: AvroCodec; logger: Logger; config: Config },
  registry: Registry = createRegistry(false),
): StageRunner {
  return new StageRunner(stage, { ...deps, metrics: createStageMetrics(registry) });
}

export function testClients(config: Config) {
  const logger = createLogger({ level: config.LOG_LEVEL });
  const kafka = new KafkaAdapter({ ...kafkaConnection(config), clientId: 'test', logger });
  const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, config.TOPIC_PREFIX);
  return { logger, kafka, codec };
}

/**
 * `testClients`, whose logs (kafkajs's too) are kept at info, whatever TEST_LOG_LEVEL says, the
 * last `keep` lines in memory, for a test to print when it fails: a CI run keeps only the test
 * output, and a failure under faults is seldom reproduced at will. With TEST_LOG_LEVEL set they
 * go to stdout as well.
 */
export function recordedClients(config: Config, keep = 5_000) {
  const lines: string[] = [];
  const echo = process.env.TEST_LOG_LEVEL !== undefined;
  const logger = createLogger({
    level: 'info',
    destination: {
      write: (line: string) => {
        lines.push(line);
        if (lines.length > keep) lines.splice(0, lines.length - keep);
        if (echo) process.stdout.write(line);
      },
    },
  });
  const kafka = new KafkaAdapter({ ...kafkaConnection(config), clientId: 'test', logger });
  /**
   * the kept lines logged at `since` (epoch ms) or later, at warn or above or whose message says
   * `also`: each as its time of day, level, message and own fields, cut to `width`
   */
  const logged = (since: number, also: RegExp, width = 400): string[] =>
    lines.flatMap((line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return [];
      }
      const { level, time, msg, pid: _pid, name: _name, component: _c, timestamp: _t, logger: _l, ...fields } = entry;
      const at = typeof time === 'string' ? time : '';
      const message = typeof msg === 'string' ? msg : '';
      const severity = typeof level === 'number' ? level : 0;
      if (Date.parse(at) < since) return [];
      if (severity < 40 && !also.test(message)) return [];
      const label = severity >= 50 ? 'ERROR' : severity >= 40 ? 'WARN' : 'INFO';
      return [`${at.slice(11, 23)} ${label} ${message} ${JSON.stringify(fields)}`.slice(0, width)];
    });
  return { logger, kafka, logged };
}

export function sampleOrder(i: number, overrides: Partial<NotificationOrder> = {}): NotificationOrder {
  const now = Date.UTC(2026, 10, 27, 10, 0, 0);
  return {
    orderId: randomUUID(),
    orderChainId: randomUUID(),
    type: 'Notification',
    creator: 'ttd',
    idempotencyId: `idem-${i}`,
    sendersReference: `ref-${i}`,
    requestedSendTime: now,
    created: now,
    notificationChannel: 'Email',
    sendingTimePolicy: 'Anytime',
    conditionEndpoint: null,
    ignoreReservation: false,
    useStaleContactInformation: false,
    resourceId: null,
    resourceAction: null,
    timeToLiveSeconds: null,
    fallbackOnDeliveryFailure: null,
    attachments: null,
    emailTemplate: {
      fromAddress: 'noreply@altinn.cloud',
      subject: `Subject ${i}`,
      body: `Body ${i}`,
      contentType: 'Plain',
    },
    smsTemplate: null,
    recipients: [
      {
        nationalIdentityNumber: null,
        organizationNumber: null,
        externalIdentity: null,
        emailAddress: `user${i}@example.com`,
        mobileNumber: null,
        isReserved: null,
      },
    ],
    dialogportenAssociation: null,
    ...overrides,
  };
}

/** The environment a stage process needs to join this test's stack and prefix. */
export function stageEnv(config: Config): Record<string, string> {
  return {
    KAFKA_BROKERS: config.KAFKA_BROKERS.join(','),
    SCHEMA_REGISTRY_URL: config.SCHEMA_REGISTRY_URL,
    TOPIC_PREFIX: config.TOPIC_PREFIX,
    TOPIC_PARTITIONS: String(config.TOPIC_PARTITIONS),
    STAGE_HTTP_PORT: '0',
    LOG_LEVEL: 'info',
    PASSTHROUGH_INPUT: 'orders',
    PASSTHROUGH_OUTPUT: 'ordersDue',
    TOPIC_REPLICATION_FACTOR: String(config.TOPIC_REPLICATION_FACTOR),
    REDIS_URL: stackEnv().REDIS_URL,
    ...securityEnv(),
  };
}

/** The environment a gateway process needs on this test's stack and prefix (a port of its own, the stack's keys). */
export function gatewayEnv(config: Config): Record<string, string> {
  return {
    ...stageEnv(config),
    REGISTRY_URL: stackEnv().REGISTRY_URL,
    GATEWAY_PORT: '0',
    AUTH_PUBLIC_KEY_FILE: process.env.AUTH_PUBLIC_KEY_FILE!,
  };
}

/** What a gateway process logs once it listens, with its port. */
export const GATEWAY_LISTENING = /"port":(\d+),"msg":"gateway listening"/;

/**
 * Resolves when `predicate` holds, checked after calls of the returned `poke`: once per turn of
 * the event loop however often it is poked (a consumer pokes once per record, and a predicate
 * that scans every notification, run per record, is quadratic: at 20,000 status events it held
 * the event loop long enough for the test's own consumer to be dropped from its group).
 */
export function until(predicate: () => boolean, timeoutMs: number, what: string) {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  let over = false;
  let queued = false;
  const timer = setTimeout(() => {
    over = true;
    reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
  }, timeoutMs);
  const check = () => {
    queued = false;
    if (over || !predicate()) return;
    over = true;
    clearTimeout(timer);
    resolve();
  };
  const poke = () => {
    if (over || queued) return;
    queued = true;
    setImmediate(check);
  };
  check();
  return { done, poke };
}

/** Produces sample orders `from`..`count - 1` (Avro, acks=all) to `topic` in acknowledged batches. */
export async function produceOrders(
  kafka: KafkaAdapter,
  codec: AvroCodec,
  topic: string,
  count: number,
  batchSize = 500,
  overrides: (i: number) => Partial<NotificationOrder> = () => ({}),
  from = 0,
): Promise<void> {
  const producer = await kafka.plainProducer();
  try {
    for (let start = from; start < count; start += batchSize) {
      const batch = [];
      for (let i = start; i < Math.min(count, start + batchSize); i++) {
        const order = sampleOrder(i, overrides(i));
        batch.push({ topic, key: order.orderId, value: await codec.encode('orders', order) });
      }
      await producer.send(batch);
    }
  } finally {
    await producer.close();
  }
}

/** Orders onto this test's orders topic under one key: one partition, handled in the order given. */
export function publishInOrder(kafka: KafkaAdapter, codec: AvroCodec, prefix: string, orders: NotificationOrder[]) {
  return publish(
    kafka,
    codec,
    prefix,
    'orders',
    orders.map((o) => ({ key: 'one-key', value: o })),
  );
}

/** Publishes typed values to one of this test's topics (Avro, acks=all). */
export async function publish<K extends TopicKey>(
  kafka: KafkaAdapter,
  codec: AvroCodec,
  prefix: string,
  topic: K,
  records: { key: string; value: TopicValues[K]; headers?: Record<string, string> }[],
): Promise<void> {
  await codec.register([topic]);
  const producer = await kafka.plainProducer();
  try {
    await producer.send(
      await Promise.all(
        records.map(async (r) => ({
          topic: topicName(prefix, topic),
          key: r.key,
          value: await codec.encode(topic, r.value),
          ...(r.headers ? { headers: r.headers } : {}),
        })),
      ),
    );
  } finally {
    await producer.close();
  }
}

/** `promise`, or a rejection naming `what` once `ms` pass. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Polls a state that only a read shows (a Redis view, an HTTP answer), every 50 ms: for what no
 * event announces. Prefer awaiting an event where there is one.
 */
export async function eventually(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `order` as enrich-recipients hands it on, before any condition check (no recipients looked up) */
export function enrichedOrder(order: NotificationOrder): EnrichedOrder {
  return {
    orderId: order.orderId,
    creator: order.creator,
    enrichedAt: Date.now(),
    conditionChecks: 0,
    recipients: [],
    orderJson: null,
    order,
  };
}

/** What every queued notification carries: one fresh id for it and its order, due now, expiring in 48 h. */
function queuedNow() {
  const id = randomUUID();
  const now = Date.now();
  return { notificationId: id, orderId: id, creator: 'ttd', requestedSendTime: now, expiry: now + 48 * 3600 * 1000 };
}

/** An email notification as resolve-channel puts it on email.queue, due now, expiring in 48 h. */
export function sampleEmail(to: string, overrides: Partial<EmailNotification> = {}): EmailNotification {
  return {
    ...queuedNow(),
    fromAddress: 'noreply@altinn.cloud',
    toAddress: to,
    subject: 'Ny melding',
    body: 'Hei, du har en ny melding.',
    contentType: 'Plain',
    attachments: null,
    ...overrides,
  };
}

/** An SMS notification as it reaches sms.queue (Anytime), due now, expiring in 48 h. */
export function sampleSms(body: string, overrides: Partial<SmsNotification> = {}): SmsNotification {
  return {
    ...queuedNow(),
    sender: 'Altinn',
    recipient: '+4799999999',
    body,
    sendingTimePolicy: 'Anytime',
    ...overrides,
  };
}
