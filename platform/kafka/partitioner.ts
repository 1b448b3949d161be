/**
 * The Java client's default partitioning of keyed records: murmur2 over the key bytes, made
 * positive, modulo the partition count. So a direct producer written in any language puts an
 * order's records on the same partition as ours.
 *
 * kafkajs ships the same function (`Partitioners.DefaultPartitioner`), but computes murmur2 with
 * its 64-bit Long emulation and filters the partition list for every message: about a tenth of a
 * stage's CPU time in the chain benchmark. This is the same arithmetic in 32-bit integers.
 */

const M = 0x5bd1e995;
const SEED = 0x9747b28c;

/** Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): a signed 32-bit hash. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ data[whole]!, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition the Java client's default partitioner picks for `key` among `partitions`. */
export function partitionForKey(key: Uint8Array | string, partitions: number): number {
  const bytes = typeof key === 'string' ? Buffer.from(key) : key;
  return (murmur2(bytes) & 0x7fffffff) % partitions;
}

interface PartitionerArgs {
  topic: string;
  partitionMetadata: { partitionId: number; leader: number }[];
  message: { key?: Buffer | string | null; partition?: number | null };
}

/**
 * A kafkajs `createPartitioner`: an explicit partition wins, a key hashes as the Java client's,
 * and records without either go round-robin over the partitions that have a leader.
 */
export const javaCompatiblePartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }: PartitionerArgs): number => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined)
      return partitionForKey(message.key, partitionMetadata.length);
    const counter = (counters.get(topic) ?? Math.floor(Math.random() * 0x7fffffff)) + 1;
    counters.set(topic, counter);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    const from = available.length > 0 ? available : partitionMetadata;
    return from[(counter & 0x7fffffff) % from.length]!.partitionId;
  };
};
