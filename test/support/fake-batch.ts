import type { PartitionBatch } from '../../platform/kafka/adapter.ts';

/**
 * A batch of one record (offset 0 of partition 0 of `topic`), as the adapter hands a stage
 * runner one, for unit tests with a fake adapter: always running, never stale; `overrides` give
 * it a heartbeat of their own, say.
 */
export function oneRecordBatch(topic: string, overrides: Partial<PartitionBatch> = {}): PartitionBatch {
  return {
    topic,
    partition: 0,
    highWatermark: '1',
    records: [
      { topic, partition: 0, offset: '0', key: Buffer.from('k'), value: Buffer.from([0]), headers: {}, timestamp: '0' },
    ],
    resolveOffset: () => undefined,
    heartbeat: async () => undefined,
    isRunning: () => true,
    isStale: () => false,
    seek: () => undefined,
    ...overrides,
  };
}
