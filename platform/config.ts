import { z } from 'zod';

/**
 * Process configuration, read once from the environment at start-up. A bad value fails fast
 * with the variable's name. Units and defaults are stated beside each field (and in README.md).
 */
const int = (def: number) => z.coerce.number().int().default(def);

export const ConfigSchema = z.object({
  /** comma-separated host:port list */
  KAFKA_BROKERS: z
    .string()
    .min(1)
    .transform((s) =>
      s
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
    ),
  /** Kafka client id (and transactional-id prefix) */
  KAFKA_CLIENT_ID: z.string().default('notifications'),
  /** Confluent-compatible schema registry base URL (Apicurio: …/apis/ccompat/v7) */
  SCHEMA_REGISTRY_URL: z.string().url(),
  /** prefix for every topic and consumer group (isolates environments and tests) */
  TOPIC_PREFIX: z.string().default(''),
  /** partitions for topics this process creates */
  TOPIC_PARTITIONS: int(6).pipe(z.number().min(1)),
  /** retention of pipeline topics, ms (default 7 days) */
  TOPIC_RETENTION_MS: int(7 * 24 * 3600 * 1000),
  /** replication factor for topics this process creates (1 on a one-broker stack) */
  TOPIC_REPLICATION_FACTOR: int(1).pipe(z.number().min(1)),
  /** HTTP port for /health and /metrics of the stage process; 0 picks a free port */
  STAGE_HTTP_PORT: int(9464).pipe(z.number().min(0).max(65535)),
  /** how long SIGTERM may take to drain a stage process before it exits anyway (code 1) */
  SHUTDOWN_TIMEOUT_MS: int(30_000).pipe(z.number().min(1_000)),
  /** pino level: trace, debug, info, warn, error */
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** first retry delay, ms */
  RETRY_INITIAL_MS: int(200).pipe(z.number().min(1)),
  /** longest retry delay, ms */
  RETRY_MAX_MS: int(30_000).pipe(z.number().min(1)),
  /** attempts for a retriable failure before it is dead-lettered; 0 = retry until it works */
  RETRY_MAX_ATTEMPTS: int(0).pipe(z.number().min(0)),
  /** attempts for an unexpected (unclassified) failure before it is dead-lettered */
  UNEXPECTED_MAX_ATTEMPTS: int(5).pipe(z.number().min(1)),
  /** most input records handled in one Kafka transaction */
  TRANSACTION_MAX_RECORDS: int(2000).pipe(z.number().min(1)),
  /**
   * most output bytes in one transaction: kafkajs sends a partition's records as one batch, which
   * the broker refuses above its max.message.bytes (1 MiB by default)
   */
  TRANSACTION_MAX_BYTES: int(512 * 1024).pipe(z.number().min(1024)),
  /** largest single output record; a larger one is dead-lettered (keep under max.message.bytes) */
  MAX_RECORD_BYTES: int(1_000_000).pipe(z.number().min(1024)),
  /** how long the group waits for a silent stage process before moving its partitions, ms (6 000–300 000) */
  CONSUMER_SESSION_TIMEOUT_MS: int(10_000).pipe(z.number().min(6_000).max(300_000)),
  /** Redis: the schedule stores, the send ledgers, the status view, idempotency and rate limits; needed by the gateway and every stage but enrich-recipients, resolve-channel and passthrough */
  REDIS_URL: z.string().optional(),
  /** key prefix in Redis (isolates environments and tests); defaults to TOPIC_PREFIX */
  REDIS_PREFIX: z.string().optional(),
  /** how long a claimed schedule item is held before it counts as abandoned, ms */
  SCHEDULER_LEASE_MS: int(30_000).pipe(z.number().min(1_000)),
  /** most due orders released in one transaction */
  SCHEDULER_BATCH_SIZE: int(500).pipe(z.number().min(1)),
  /** release transactions under way at once, each from its own transactional producer (1–8) */
  SCHEDULER_RELEASE_LANES: int(3).pipe(z.number().min(1).max(8)),
  /** longest sleep between looks at the schedule, ms (bounds release lateness) */
  SCHEDULER_POLL_MS: int(200).pipe(z.number().min(10)),
  /** releaser leadership term unless renewed, ms (a successor waits this long after a crash) */
  SCHEDULER_LEADER_TTL_MS: int(10_000).pipe(z.number().min(1_000)),
  /**
   * when a stage's claim of an order it passes on at once (due already) counts as abandoned, ms;
   * must outlast the stages' Kafka transaction timeout (30 s) and the broker's check for
   * timed-out transactions (10 s), so that claim's transaction is over by then
   */
  SCHEDULER_PASS_LEASE_MS: int(120_000).pipe(z.number().min(45_000)),
  /** SMS send window for the Daytime policy: local opening hour (exclusive) */
  SMS_WINDOW_START_HOUR: int(9).pipe(z.number().min(0).max(23)),
  /** SMS send window: local closing hour (exclusive) */
  SMS_WINDOW_END_HOUR: int(17).pipe(z.number().min(1).max(24)),
  /** SMS send window: IANA time zone */
  SMS_WINDOW_ZONE: z.string().default('Europe/Oslo'),
  /** base URL of the registries (Profile, Register, resource rights); needed by enrich-recipients */
  REGISTRY_URL: z.string().url().optional(),
  /** per registry call, ms */
  REGISTRY_TIMEOUT_MS: int(5_000).pipe(z.number().min(100)),
  /** consecutive registry failures that open its circuit */
  REGISTRY_BREAKER_THRESHOLD: int(5).pipe(z.number().min(1)),
  /** how long an open registry circuit waits before one trial call, ms */
  REGISTRY_BREAKER_HALF_OPEN_MS: int(10_000).pipe(z.number().min(100)),
  /** per condition endpoint call, ms */
  CONDITION_TIMEOUT_MS: int(10_000).pipe(z.number().min(100)),
  /** wait before the one re-check of an inconclusive condition, ms (the reference: at least a minute) */
  CONDITION_RETRY_DELAY_MS: int(60_000).pipe(z.number().min(0)),
  /** let condition endpoints resolve to loopback addresses (local runs and tests only) */
  EGRESS_ALLOW_LOOPBACK: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** let condition endpoints resolve to private-range addresses */
  EGRESS_ALLOW_PRIVATE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** grace after a notification's expiry before one still awaiting its report becomes Failed_TTL, ms */
  NOTIFICATION_EXPIRY_GRACE_MS: int(300_000).pipe(z.number().min(0)),
  /** SMTP server of send-email */
  SMTP_HOST: z.string().optional(),
  SMTP_PORT: int(587).pipe(z.number().min(1).max(65535)),
  /** implicit TLS (port 465 style); otherwise STARTTLS is used when the server offers it */
  SMTP_SECURE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  SMTP_USER: z.string().optional(),
  SMTP_PASS: z.string().optional(),
  /** verify the SMTP server's certificate (turn off only for local test servers) */
  SMTP_TLS_REJECT_UNAUTHORIZED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** pooled SMTP connections per send-email process */
  SMTP_POOL_SIZE: int(5).pipe(z.number().min(1)),
  /** connection, greeting and socket timeout of SMTP, ms */
  SMTP_TIMEOUT_MS: int(30_000).pipe(z.number().min(100)),
  /** emails per second one send-email process hands to the SMTP provider */
  EMAIL_RATE_PER_SECOND: int(200).pipe(z.number().min(1)),
  /** how long the send ledger remembers a hand-over, seconds (longer than any notification lives) */
  SEND_LEDGER_TTL_S: int(14 * 24 * 3600).pipe(z.number().min(60)),
  /** access key (`?accesskey=`) of the email delivery report webhook; the webhook is off without one */
  EMAIL_REPORT_ACCESS_KEY: z.string().min(16).optional(),
  /** the SMSC of send-sms */
  SMSC_HOST: z.string().optional(),
  SMSC_PORT: int(2775).pipe(z.number().min(1).max(65535)),
  SMPP_SYSTEM_ID: z.string().default('notifications'),
  SMPP_PASSWORD: z.string().default(''),
  SMPP_SYSTEM_TYPE: z.string().optional(),
  /** submit_sm in flight at once per SMPP session */
  SMPP_WINDOW: int(10).pipe(z.number().min(1)),
  /** submit_sm per second per SMPP session (the SMSC's contracted TPS) */
  SMPP_TPS: int(100).pipe(z.number().min(1)),
  SMPP_ENQUIRE_LINK_MS: int(30_000).pipe(z.number().min(1_000)),
  /** how long a submit_sm waits for its response before it counts as lost, ms */
  SMPP_RESPONSE_TIMEOUT_MS: int(10_000).pipe(z.number().min(100)),
  /** HTTP port of the gateway (order and status API) */
  GATEWAY_PORT: int(8080).pipe(z.number().min(0).max(65535)),
  /** public base URL of the gateway, used in Location headers and links (default http://localhost:<port>) */
  GATEWAY_BASE_URL: z.string().url().optional(),
  /** JWKS URL the gateway verifies bearer tokens against (this or AUTH_PUBLIC_KEY_FILE) */
  AUTH_JWKS_URL: z.string().url().optional(),
  /** PEM file (SPKI public key, or a JWKS JSON file) the gateway verifies bearer tokens against */
  AUTH_PUBLIC_KEY_FILE: z.string().optional(),
  /** required `iss` of bearer tokens, when set */
  AUTH_ISSUER: z.string().optional(),
  /** required `aud` of bearer tokens, when set */
  AUTH_AUDIENCE: z.string().optional(),
  /** longest lifetime (s) of a bearer or Platform Access Token; every token must carry exp */
  AUTH_MAX_TOKEN_LIFETIME_S: int(3600).pipe(z.number().min(60)),
  /** folder of Platform Access Token issuers' public keys, one `<issuer>.pem` each (unset: none accepted) */
  ACCESS_TOKEN_ISSUERS_DIR: z.string().optional(),
  /** from-address of emails whose order names none */
  DEFAULT_EMAIL_FROM: z.string().default('noreply@altinn.cloud'),
  /** sender of SMS whose order names none */
  DEFAULT_SMS_SENDER: z.string().default('Altinn'),
  /** requests per second one creator may make to the order API (429 with Retry-After beyond) */
  RATE_LIMIT_PER_SECOND: int(500).pipe(z.number().min(1)),
  /** largest request body the gateway reads, bytes */
  BODY_LIMIT_BYTES: int(256 * 1024).pipe(z.number().min(1024)),
  /** how long a replay of an order in flight waits for the first request's answer, ms */
  IDEMPOTENCY_WAIT_MS: int(10_000).pipe(z.number().min(100)),
  /** how long a claimed idempotency key is held by a request that may have died, ms */
  IDEMPOTENCY_LEASE_MS: int(30_000).pipe(z.number().min(1_000)),
  /** status feed entries younger than this are not shown yet, ms (reference: 2 s) */
  FEED_VISIBILITY_DELAY_MS: int(2_000).pipe(z.number().min(0)),
  /** a stage's fetch waits for this many bytes (or CONSUMER_FETCH_MAX_WAIT_MS): bigger, fewer transactions */
  CONSUMER_FETCH_MIN_BYTES: int(65_536).pipe(z.number().min(1)),
  /** longest a stage's fetch waits for CONSUMER_FETCH_MIN_BYTES, ms (added latency per hop when idle) */
  CONSUMER_FETCH_MAX_WAIT_MS: int(100).pipe(z.number().min(0)),
  /** input partitions a stage processes at the same time */
  PARTITIONS_CONCURRENTLY: int(6).pipe(z.number().min(1)),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
