import { z } from 'zod';
import { gatewayOptions } from '../gateway/options.ts';
import { conditionOptions } from '../processors/evaluate-condition/options.ts';
import { passthroughOptions } from '../processors/passthrough/options.ts';
import { runtimeOptions } from '../processors/runtime/options.ts';
import { sendEmailOptions } from '../processors/send-email/options.ts';
import { sendSmsOptions } from '../processors/send-sms/options.ts';
import { statusViewOptions } from '../processors/status-view/options.ts';
import { int } from './config-kit.ts';
import { egressOptions } from './http/options.ts';
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
  /** pino level: trace, debug, info, warn, error */
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Redis: the schedule stores, the send ledgers, the status view, idempotency and rate limits; needed by the gateway and every stage but enrich-recipients, resolve-channel and passthrough */
  REDIS_URL: z.string().optional(),
  /** key prefix in Redis (isolates environments and tests); defaults to TOPIC_PREFIX */
  REDIS_PREFIX: z.string().optional(),
});

export const ConfigSchema = platformOptions
  .extend(runtimeOptions.shape)
  .extend(registryOptions.shape)
  .extend(egressOptions.shape)
  .extend(windowOptions.shape)
  .extend(ledgerOptions.shape)
  .extend(viewOptions.shape)
  .extend(conditionOptions.shape)
  .extend(statusViewOptions.shape)
  .extend(sendEmailOptions.shape)
  .extend(sendSmsOptions.shape)
  .extend(passthroughOptions.shape)
  .extend(gatewayOptions.shape);

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
