import { ConfigError, type Config } from './config.ts';
import type { KafkaAdapter, TopicSpec } from './kafka/adapter.ts';
import { withRetry } from './retry.ts';
import type { AvroCodec } from './schemas/codec.ts';
import { TOPICS, topicName, type TopicKey } from './topics.ts';

const DAY = 24 * 3600 * 1000;
/** Kafka's own segment.ms (log.roll.hours 168), for the topics that do not set theirs. */
const BROKER_SEGMENT_MS = 7 * DAY;

/** How long a topic keeps its records, as provisioned. */
export function retentionMs(config: Config, key: TopicKey): number {
  return key === 'orders' || key === 'status' || key === 'deadLetter'
    ? TOPICS[key].retentionMs
    : Math.min(TOPICS[key].retentionMs, config.TOPIC_RETENTION_MS);
}

/**
 * segment.ms for topics kept 30 days or less: at most a day. Kafka deletes whole segments, the
 * oldest once its newest record is past the retention, so a record can outlive the retention by
 * as long as a segment stays open: a day at most for these, not the broker's week. (The year-long
 * topics keep the broker's: a segment a day would be hundreds of files per partition.)
 */
function segmentMs(config: Config, key: TopicKey): number | null {
  const retention = retentionMs(config, key);
  return retention <= 30 * DAY ? Math.min(DAY, retention) : null;
}

/**
 * The longest a record can stay on a topic as provisioned: a replay of the topic (a group reset,
 * a rebuild) brings back nothing older. What guards against a replay need be kept no longer.
 */
export function recordLifetimeMs(config: Config, key: TopicKey): number {
  return retentionMs(config, key) + (segmentMs(config, key) ?? BROKER_SEGMENT_MS);
}

/** The topic specs for this environment: partitions, replication, retention, cleanup policy. */
export function topicSpecs(config: Config): TopicSpec[] {
  return (Object.keys(TOPICS) as TopicKey[]).map((key) => {
    const segment = segmentMs(config, key);
    return {
      name: topicName(config.TOPIC_PREFIX, key),
      partitions: config.TOPIC_PARTITIONS,
      replicationFactor: config.TOPIC_REPLICATION_FACTOR,
      config: {
        'cleanup.policy': 'delete',
        'retention.ms': String(retentionMs(config, key)),
        ...(segment === null ? {} : { 'segment.ms': String(segment) }),
        'min.insync.replicas': String(Math.min(2, config.TOPIC_REPLICATION_FACTOR)),
      },
    };
  });
}

/**
 * Creates or updates every topic and registers every value schema (idempotent). Right after a
 * topic is created the broker may briefly answer that it does not host it yet; such retriable
 * broker errors are retried.
 */
export async function provision(kafka: KafkaAdapter, codec: AvroCodec, config: Config): Promise<void> {
  // A topic needs as many brokers as replicas; fewer would be refused at creation, or for a topic
  // that exists, leave writes (acks=all, min.insync.replicas) waiting. Say so at once instead.
  // A broker that is down for now still counts (its replicas are assigned to it): an instance
  // restarted while one broker of three is away must start.
  const brokers = await kafka.clusterSize();
  if (brokers < config.TOPIC_REPLICATION_FACTOR) {
    throw new ConfigError(
      `TOPIC_REPLICATION_FACTOR is ${config.TOPIC_REPLICATION_FACTOR}, but the Kafka cluster at ${config.KAFKA_BROKERS.join(',')} has ${brokers} broker(s): it cannot hold that many replicas`,
    );
  }
  await withRetry(() => kafka.ensureTopics(topicSpecs(config)), {
    maxAttempts: 8,
    initialMs: 200,
    maxMs: 3_000,
    shouldRetry: (err) =>
      (err as { retriable?: boolean }).retriable === true || /does not host|leader/i.test(String(err)),
  });
  await codec.register();
}
