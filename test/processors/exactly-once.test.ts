import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { killAndRestart } from '../support/kill-restart.ts';
import { produceOrders, stageEnv, testClients, testConfig, uniquePrefix } from '../support/stack.ts';

const TOTAL = 10_000;

describe('stage runtime delivery guarantee', () => {
  const prefix = uniquePrefix('eos');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '3' });
  const { kafka, codec } = testClients(config);

  beforeAll(() => provision(kafka, codec, config));
  afterAll(() => kafka.close());

  it('neither loses nor duplicates records when the stage is SIGKILLed mid-stream and restarted', async () => {
    const result = await killAndRestart({
      kafka,
      stages: ['passthrough'],
      env: stageEnv(config),
      outputTopic: topicName(prefix, 'ordersDue'),
      collectorGroup: `${prefix}counter`,
      total: TOTAL,
      // Streamed while the stage runs, in acknowledged batches (idempotent producer, acks=all).
      feed: (from, to) => produceOrders(kafka, codec, topicName(prefix, 'orders'), to, 250, undefined, from),
      label: 'exactly-once',
    });
    expect(result.atKill).toBeLessThan(TOTAL);
    expect(result).toMatchObject({ received: TOTAL, distinct: TOTAL, duplicated: 0 });
  });
});
