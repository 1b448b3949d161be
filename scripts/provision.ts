/** Creates/updates the pipeline's topics and registers its schemas, for the configured environment. */
import { loadConfig } from '../platform/config.ts';
import { KafkaAdapter, kafkaConnection } from '../platform/kafka/adapter.ts';
import { createLogger } from '../platform/logger.ts';
import { provision, topicSpecs } from '../platform/provision.ts';
import { AvroCodec } from '../platform/schemas/codec.ts';

const config = loadConfig();
const logger = createLogger({ name: 'provision', level: config.LOG_LEVEL });
const kafka = new KafkaAdapter({ ...kafkaConnection(config), clientId: config.KAFKA_CLIENT_ID, logger });
const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, config.TOPIC_PREFIX);
await provision(kafka, codec, config);
await kafka.close();
for (const t of topicSpecs(config))
  logger.info({ topic: t.name, partitions: t.partitions, ...t.config }, 'topic ready');
