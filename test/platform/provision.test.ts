import { afterAll, describe, expect, it } from 'vitest';
import { provision, recordLifetimeMs, topicSpecs } from '../../platform/provision.ts';
import { TOPICS, topicName } from '../../platform/topics.ts';
import { testClients, testConfig, uniquePrefix } from '../support/stack.ts';

describe('topic provisioning', () => {
  const prefix = uniquePrefix('prov');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '2', TOPIC_RETENTION_MS: '3600000' });
  const { kafka, codec } = testClients(config);
  afterAll(() => kafka.close());

  it('creates every topic with its partitions, retention and cleanup policy, and is idempotent', async () => {
    await provision(kafka, codec, config);
    await provision(kafka, codec, config);
    // every topic of the pipeline exists on the broker, with its partitions
    const specs = topicSpecs(config);
    expect(specs).toHaveLength(Object.keys(TOPICS).length);
    for (const spec of specs) expect((await kafka.describeTopic(spec.name)).partitions, spec.name).toBe(2);
    const orders = await kafka.describeTopic(topicName(prefix, 'orders'));
    expect(orders.partitions).toBe(2);
    expect(orders.config['cleanup.policy']).toBe('delete');
    expect(orders.config['retention.ms']).toBe(String(365 * 24 * 3600 * 1000));
    const email = await kafka.describeTopic(topicName(prefix, 'emailQueue'));
    expect(email.config['retention.ms']).toBe('3600000');
    // a short-lived topic's segments roll within its retention, so no record outlives it by more
    expect(email.config['segment.ms']).toBe('3600000');
    expect(recordLifetimeMs(config, 'emailQueue')).toBe(2 * 3600000);
    // the year-long ones keep the broker's week
    expect(recordLifetimeMs(config, 'orders')).toBe(372 * 24 * 3600 * 1000);
    const week = { ...config, TOPIC_RETENTION_MS: 7 * 24 * 3600 * 1000 };
    expect(recordLifetimeMs(week, 'smsPending')).toBe(8 * 24 * 3600 * 1000);
  });

  it('refuses a replication factor the cluster cannot hold, and creates nothing', async () => {
    const brokers = await kafka.brokerCount();
    const other = uniquePrefix('prov-rf');
    const tooMany = testConfig(other, { TOPIC_REPLICATION_FACTOR: String(brokers + 1) });
    await expect(provision(kafka, codec, tooMany)).rejects.toThrow(
      `TOPIC_REPLICATION_FACTOR is ${brokers + 1}, but the Kafka cluster at ${tooMany.KAFKA_BROKERS.join(',')} has ${brokers} broker(s)`,
    );
    await expect(kafka.describeTopic(topicName(other, 'orders'))).rejects.toThrow();
  });

  it('grows a topic whose partition count is below the spec', async () => {
    const more = { ...config, TOPIC_PARTITIONS: 4 };
    await provision(kafka, codec, more);
    expect((await kafka.describeTopic(topicName(prefix, 'status'))).partitions).toBe(4);
  });
});
