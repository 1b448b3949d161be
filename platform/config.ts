import { z } from 'zod';
import { gatewayOptions } from '../gateway/options.ts';
import { conditionOptions } from '../processors/evaluate-condition/options.ts';
import { passthroughOptions } from '../processors/passthrough/options.ts';
import { resolveChannelOptions } from '../processors/resolve-channel/options.ts';
import { schedulerOptions } from '../processors/scheduler/options.ts';
import { runtimeOptions } from '../processors/runtime/options.ts';
import { sendEmailOptions } from '../processors/send-email/options.ts';
import { sendSmsOptions, smsRoutingProblems } from '../processors/send-sms/options.ts';
import { statusViewOptions } from '../processors/status-view/options.ts';
import { int } from './config-kit.ts';
import { attachmentOptions, egressOptions } from './http/options.ts';
import { windowOptions } from './notifications/options.ts';
import { ledgerOptions } from './redis/options.ts';
import { registryOptions } from './registry/options.ts';
import { viewOptions } from './view/options.ts';

/**
 * Process configuration, read once from the environment at start-up. A bad value fails fast
 * with the variable's name. Units and defaults are stated beside each field (and in README.md).
 *
 * The schema is composed of slices, each kept beside what reads it: this file's platform slice
 * (Kafka, the schema registry, topics, Redis, logs), the stage runtime's, the gateway's, each
 * stage's own (`processors/<stage>/options.ts`) and those that several share (the registries,
 * the egress policy, the SMS window, the senders' ledger).
 */
export const platformOptions = z.object({
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
  /**
   * how the Kafka clients connect, as Kafka's own `security.protocol`: PLAINTEXT, SSL (TLS),
   * SASL_PLAINTEXT or SASL_SSL (SASL over TLS: what production wants)
   */
  KAFKA_SECURITY_PROTOCOL: z.enum(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']).default('PLAINTEXT'),
  /** the SASL mechanism, with SASL_*: scram-sha-512, scram-sha-256 or plain */
  KAFKA_SASL_MECHANISM: z.enum(['scram-sha-512', 'scram-sha-256', 'plain']).default('scram-sha-512'),
  /** the SASL user, required with SASL_* */
  KAFKA_SASL_USERNAME: z.string().optional(),
  /** the SASL user's password, required with SASL_* (a secret) */
  KAFKA_SASL_PASSWORD: z.string().optional(),
  /** a PEM file of the CA certificates that sign the brokers' certificates, with SSL and SASL_SSL (default: the system's) */
  KAFKA_SSL_CA_FILE: z.string().optional(),
  /** Kafka client id (and transactional-id prefix) */
  KAFKA_CLIENT_ID: z.string().default('notifications'),
  /**
   * how long one connection to a broker may take to open, TLS and SASL included, ms (default
   * 10 000, as Java's socket.connection.setup.timeout.ms; kafkajs's own 1 000 is missed by a
   * TLS handshake on a busy node)
   */
  KAFKA_CONNECTION_TIMEOUT_MS: int(10_000).pipe(z.number().min(100)),
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
  /** pino level: trace, debug, info, warn, error */
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Redis: the schedule stores, the send ledgers, the status view, idempotency and rate limits; needed by the gateway and every stage but enrich-recipients, resolve-channel and passthrough */
  REDIS_URL: z.string().optional(),
  /** a PEM file of the CA certificates that sign Redis's certificate, for a `rediss://` REDIS_URL (default: the system's) */
  REDIS_TLS_CA_FILE: z.string().optional(),
  /** key prefix in Redis (isolates environments and tests); defaults to TOPIC_PREFIX */
  REDIS_PREFIX: z.string().optional(),
  /**
   * Redis Sentinel: comma-separated host:port of the sentinels, which name the primary (and
   * fail over to a replica); REDIS_URL's host is then the master group's name
   * (`redis://:password@mymaster`), its password, TLS and database still used
   */
  REDIS_SENTINELS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s.trim() === '') return undefined;
      return s.split(',').map((entry) => {
        const m = /^\s*([^\s:]+|\[[0-9a-fA-F:.]+\]):(\d{1,5})\s*$/.exec(entry);
        const port = Number(m?.[2]);
        if (!m || port < 1 || port > 65_535) {
          ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry.trim())} is not host:port` });
          return { host: '', port: 0 };
        }
        return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
      });
    }),
  /** the sentinels' own password, when they require one (a secret; default none) */
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  /**
   * ms a connection with calls under way may go without a byte from Redis before it is taken for
   * dead and made again, its calls sent again there (a host gone without a word, a network cut,
   * a managed Redis whose endpoint moved at a failover); 0: never (TCP's own timeout, minutes).
   * Longer than a live server's pauses (a fork, a slow fsync): leaving a server that is only
   * paused gains nothing (the new connection reaches it too) and runs twice what it had received
   */
  REDIS_SOCKET_TIMEOUT_MS: int(30_000).pipe(z.number().min(0)),
  /**
   * how many Redis replicas must hold each write the pipeline cannot redo from Kafka before it
   * goes on (Redis `WAIT`): a sender's claim on a notification before the hand-over (lost, a
   * replay would send it again), an item a stage schedules or a view write before its record's
   * commit (lost, the order would never be released, or its status never shown), a cancellation
   * before the gateway answers it (lost, the order would be sent), an idempotency claim before
   * the gateway publishes its order (lost, a retry's body could replace it), a delivery reference
   * before the sender's record's commit (lost, its delivery report would match nothing). Redis replicates
   * asynchronously, so a failover to a replica loses what it had not received. 0: none (a single
   * Redis, or replicas whose loss of the last writes at a failover is accepted)
   */
  REDIS_WAIT_REPLICAS: int(0).pipe(z.number().min(0)),
  /**
   * how long such a write waits for those replicas, ms, before it is refused as not yet safe:
   * the hand-over or the record is tried again later, the cancellation or the order answered 503
   */
  REDIS_REPLICA_WAIT_MS: int(1_000).pipe(z.number().min(1)),
});

export const ConfigSchema = platformOptions
  .extend(runtimeOptions.shape)
  .extend(registryOptions.shape)
  .extend(egressOptions.shape)
  .extend(attachmentOptions.shape)
  .extend(windowOptions.shape)
  .extend(ledgerOptions.shape)
  .extend(viewOptions.shape)
  .extend(schedulerOptions.shape)
  .extend(conditionOptions.shape)
  .extend(resolveChannelOptions.shape)
  .extend(statusViewOptions.shape)
  .extend(sendEmailOptions.shape)
  .extend(sendSmsOptions.shape)
  .extend(passthroughOptions.shape)
  .extend(gatewayOptions.shape);

export type Config = z.infer<typeof ConfigSchema>;

/** Settings that only make sense together, checked once the slices have parsed. */
function checkCombinations(c: Config): string[] {
  const problems: string[] = [];
  if (c.KAFKA_SECURITY_PROTOCOL.startsWith('SASL_')) {
    for (const k of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const)
      if (!c[k]) problems.push(`  ${k}: required when KAFKA_SECURITY_PROTOCOL is ${c.KAFKA_SECURITY_PROTOCOL}`);
  }
  if (c.SMPP_INSTANT_RESERVE !== undefined && c.SMPP_INSTANT_RESERVE >= c.SMPP_WINDOW)
    problems.push(
      `  SMPP_INSTANT_RESERVE: ${c.SMPP_INSTANT_RESERVE} places of SMPP_WINDOW ${c.SMPP_WINDOW} would leave the queue none`,
    );
  problems.push(...smsRoutingProblems(c));
  if (c.KAFKA_SSL_CA_FILE && !c.KAFKA_SECURITY_PROTOCOL.endsWith('SSL'))
    problems.push(
      `  KAFKA_SSL_CA_FILE: set, but KAFKA_SECURITY_PROTOCOL ${c.KAFKA_SECURITY_PROTOCOL} does not use TLS`,
    );
  if (c.REDIS_TLS_CA_FILE && c.REDIS_URL && !c.REDIS_URL.startsWith('rediss://'))
    problems.push('  REDIS_TLS_CA_FILE: set, but REDIS_URL is not a rediss:// (TLS) URL');
  if (c.REDIS_SENTINELS && !c.REDIS_URL)
    problems.push('  REDIS_SENTINELS: set, but no REDIS_URL names the master group (redis://:password@mymaster)');
  if (c.REDIS_SENTINEL_PASSWORD && !c.REDIS_SENTINELS)
    problems.push('  REDIS_SENTINEL_PASSWORD: set, but REDIS_SENTINELS is not');
  if (c.GATEWAY_SHUTDOWN_DELAY_MS > c.SHUTDOWN_TIMEOUT_MS / 2)
    problems.push(
      `  GATEWAY_SHUTDOWN_DELAY_MS: ${c.GATEWAY_SHUTDOWN_DELAY_MS} ms, above half of SHUTDOWN_TIMEOUT_MS (${c.SHUTDOWN_TIMEOUT_MS} ms), which would leave the drain after it too little`,
    );
  // a WAIT holds its connection silent: as long as the socket timeout, it would be cut
  if (
    c.REDIS_WAIT_REPLICAS > 0 &&
    c.REDIS_SOCKET_TIMEOUT_MS > 0 &&
    c.REDIS_REPLICA_WAIT_MS >= c.REDIS_SOCKET_TIMEOUT_MS
  )
    problems.push(
      `  REDIS_REPLICA_WAIT_MS: ${c.REDIS_REPLICA_WAIT_MS} ms, not under REDIS_SOCKET_TIMEOUT_MS (${c.REDIS_SOCKET_TIMEOUT_MS} ms), which would cut the connection the writes wait on`,
    );
  return problems;
}

export class ConfigError extends Error {}

/**
 * Settings of earlier versions that another now does: set, they would be ignored without a word
 * (the schema reads the environment, where any name may be), so the process refuses to start.
 */
const RENAMED: Record<string, string> = {
  SEND_LEDGER_REPLICAS: 'REDIS_WAIT_REPLICAS',
  SCHEDULE_REPLICAS: 'REDIS_WAIT_REPLICAS',
  SEND_LEDGER_REPLICA_WAIT_MS: 'REDIS_REPLICA_WAIT_MS',
  SCHEDULE_REPLICA_WAIT_MS: 'REDIS_REPLICA_WAIT_MS',
};

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const renamed = Object.entries(RENAMED)
    .filter(([old]) => env[old] !== undefined)
    .map(([old, now]) => `  ${old}: no longer read; ${now} says it now, for every write that waits for replicas`);
  if (renamed.length) throw new ConfigError(`invalid configuration:\n${renamed.join('\n')}`);
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const problems = checkCombinations(parsed.data);
  if (problems.length) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  return parsed.data;
}
