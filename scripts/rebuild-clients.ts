import { loadConfig } from '../platform/config.ts';
import { KafkaAdapter, kafkaConnection } from '../platform/kafka/adapter.ts';
import { createLogger } from '../platform/logger.ts';
import { createRedis, redisConnection } from '../platform/redis/client.ts';
import { AvroCodec } from '../platform/schemas/codec.ts';

/** What the rebuild commands use, from the stack's environment; `close` lets the process end. */
export function rebuildClients() {
  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const redisAt = redisConnection(config);
  // logs to stderr: what the commands print (dlq show's JSON) is theirs alone on stdout
  const logger = createLogger({ level: config.LOG_LEVEL, destination: process.stderr });
  const kafka = new KafkaAdapter({
    ...kafkaConnection(config),
    clientId: `${config.KAFKA_CLIENT_ID}-rebuild`,
    logger,
  });
  const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, config.TOPIC_PREFIX);
  const redis = createRedis(redisAt, logger);
  return {
    config,
    kafka,
    codec,
    redis,
    async close() {
      await kafka.close();
      redis.disconnect();
    },
  };
}
