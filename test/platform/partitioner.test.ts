import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { javaCompatiblePartitioner, murmur2, partitionForKey } from '../../platform/kafka/partitioner.ts';

// kafkajs's own (64-bit Long) murmur2, the reference ours must match bit for bit
const kafkajsMurmur2 = createRequire(import.meta.url)('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  key: Buffer | string,
) => number;

describe('partitioner', () => {
  it.each([
    // org.apache.kafka.common.utils.UtilsTest#testMurmur2
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ])('hashes %j as the Java client does', (key, expected) => {
    expect(murmur2(Buffer.from(key))).toBe(expected);
  });

  it('matches kafkajs on random keys of every length remainder, so partitions never move', () => {
    for (let i = 0; i < 2_000; i++) {
      const key = i % 2 === 0 ? randomBytes(i % 67) : Buffer.from(randomUUID());
      expect(murmur2(key)).toBe(kafkajsMurmur2(key));
    }
  });

  it('puts a keyed record where the Java client would, and honours an explicit partition', () => {
    const partition = javaCompatiblePartitioner();
    const partitionMetadata = [0, 1, 2, 3, 4, 5].map((partitionId) => ({ partitionId, leader: 1 }));
    const key = 'f47ac10b-58cc-4372-a567-0e02b2c3d479';
    const expected = (kafkajsMurmur2(key) & 0x7fffffff) % 6;
    expect(partition({ topic: 't', partitionMetadata, message: { key } })).toBe(expected);
    expect(partitionForKey(Buffer.from(key), 6)).toBe(expected);
    expect(partition({ topic: 't', partitionMetadata, message: { key, partition: 4 } })).toBe(4);
  });

  it('spreads records without a key over the partitions that have a leader', () => {
    const partition = javaCompatiblePartitioner();
    const partitionMetadata = [
      { partitionId: 0, leader: 1 },
      { partitionId: 1, leader: -1 },
      { partitionId: 2, leader: 1 },
    ];
    const seen = new Set(Array.from({ length: 20 }, () => partition({ topic: 't', partitionMetadata, message: {} })));
    expect([...seen].sort()).toEqual([0, 2]);
  });
});
