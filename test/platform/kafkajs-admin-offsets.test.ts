import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
interface Admin {
  fetchTopicOffsets(topic: string, options?: object): Promise<{ partition: number; offset: string }[]>;
  fetchTopicOffsetsByTimestamp(topic: string, timestamp?: number): Promise<{ partition: number; offset: string }[]>;
}
const createAdmin = require('kafkajs/src/admin/index.js') as (o: object) => Admin;

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/**
 * A cluster whose metadata names none of the topic's partitions until it is read afresh (a
 * broker just back that does not know the topic yet answered it), as the patched admin meets it.
 */
function clusterKnowingPartitionsAfterRefresh() {
  let known = false;
  let refreshed = 0;
  return {
    get refreshed() {
      return refreshed;
    },
    addTargetTopic: async () => undefined,
    refreshMetadataIfNecessary: async () => undefined,
    refreshMetadata: async () => {
      refreshed++;
      known = true;
    },
    findTopicPartitionMetadata: () => (known ? [{ partitionId: 0, leader: 1 }] : []),
    fetchTopicsOffset: async (topics: { topic: string; partitions: { partition: number }[] }[]) =>
      topics.map(({ topic, partitions }) => ({
        topic,
        partitions: partitions.map(({ partition }) => ({ partition, offset: '7' })),
      })),
  };
}

describe("kafkajs's admin, reading offsets with metadata that names no partition (patched)", () => {
  for (const read of ['fetchTopicOffsets', 'fetchTopicOffsetsByTimestamp'] as const) {
    it(`${read}: fails LEADER_NOT_AVAILABLE, retriable, after reading the metadata afresh, and the next try answers`, async () => {
      const cluster = clusterKnowingPartitionsAfterRefresh();
      const admin = createAdmin({ logger: { namespace: () => quiet }, retry: { retries: 0 }, cluster });
      // unpatched: a TypeError ("Cannot destructure property 'partitions' of 'high.pop(...)'")
      const err = (await admin[read]('orders').catch((e: unknown) => e)) as {
        type?: string;
        retriable?: boolean;
        name?: string;
      };
      expect(err.name).not.toBe('TypeError');
      expect(err).toMatchObject({ type: 'LEADER_NOT_AVAILABLE', retriable: true });
      expect(cluster.refreshed).toBe(1);
      expect(await admin[read]('orders')).toMatchObject([{ partition: 0, offset: '7' }]);
    });
  }
});
