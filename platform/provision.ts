import { ConfigError, type Config } from './config.ts';
import type { KafkaAdapter, TopicSpec } from './kafka/adapter.ts';
import { withRetry } from './retry.ts';
import type { AvroCodec } from './schemas/codec.ts';
import { TOPICS, topicName, type TopicKey } from './topics.ts';

/** The topic specs for this environment: partitions, replication, retention, cleanup policy. */
export function topicSpecs(config: Config): TopicSpec[] {
  return (Object.keys(TOPICS) as TopicKey[]).map((key) => ({
    name: topicName(config.TOPIC_PREFIX, key),
    partitions: config.TOPIC_PARTITIONS,
    replicationFactor: config.TOPIC_REPLICATION_FACTOR,
    config: {
      'cleanup.policy': 'delete',
      'retention.ms': String(
        key === 'orders' || key === 'status' || key === 'deadLetter'
          ? TOPICS[key].retentionMs
          : Math.min(TOPICS[key].retentionMs, config.TOPIC_RETENTION_MS),
      ),
      'min.insync.replicas': String(Math.min(2, config.TOPIC_REPLICATION_FACTOR)),
    },
  }));
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
