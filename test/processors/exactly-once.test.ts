import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { killAndRestart } from '../support/kill-restart.ts';
import { produceOrders, stageEnv, testClients, testConfig, uniquePrefix } from '../support/stack.ts';

const TOTAL = 10_000;

// partition: a transactional producer per input partition; instance: one per instance, its
// transactions spanning partitions and fenced by the group's generation (KIP-447), the restarted
// process taking the same INSTANCE_ID so it settles the transaction its predecessor left open
describe.each([
  ['partition', { TRANSACTION_SCOPE: 'partition' }],
  ['instance', { TRANSACTION_SCOPE: 'instance', INSTANCE_ID: 'eos-1' }],
])('stage runtime delivery guarantee, transactions per %s', (scope, settings) => {
  const prefix = uniquePrefix(`eos-${scope}`);
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '3', ...settings });
  const { kafka, codec } = testClients(config);

  beforeAll(() => provision(kafka, codec, config));
  afterAll(() => kafka.close());

  it('neither loses nor duplicates records when the stage is SIGKILLed mid-stream and restarted', async () => {
    const result = await killAndRestart({
      kafka,
      stages: ['passthrough'],
      env: { ...stageEnv(config), ...settings },
      outputTopic: topicName(prefix, 'ordersDue'),
      collectorGroup: `${prefix}counter`,
      total: TOTAL,
      // Streamed while the stage runs, in acknowledged batches (idempotent producer, acks=all).
      feed: (from, to) => produceOrders(kafka, codec, topicName(prefix, 'orders'), to, 250, undefined, from),
      label: `exactly-once (${scope})`,
    });
    expect(result.atKill).toBeLessThan(TOTAL);
    expect(result).toMatchObject({ received: TOTAL, distinct: TOTAL, duplicated: 0 });
  });
});
