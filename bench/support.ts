import type { KafkaAdapter, PlainProducer } from '../platform/kafka/adapter.ts';

/** Resolves `finished` when `count` committed records have arrived on `topic` (a fresh group reads it). */
export async function arrivals(kafka: KafkaAdapter, topic: string, group: string, count: number) {
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const handle = await kafka.collect({
    groupId: group,
    topics: [topic],
    onRecord: () => {
      if (++seen === count) done();
    },
  });
  return { finished, stop: () => handle.stop(), seen: () => seen };
}

/**
 * The raw baseline every benchmark compares with: a plain consumer group copying `from`'s
 * records, bytes unchanged, to `to` with an idempotent acks=all producer (no Avro, no
 * transactions).
 */
export function rawCopier(
  kafka: KafkaAdapter,
  o: { groupId: string; from: string; to: string; producer: PlainProducer; partitionsConcurrently: number },
) {
  return kafka.batchConsumer({
    groupId: o.groupId,
    topics: [o.from],
    partitionsConcurrently: o.partitionsConcurrently,
    fromBeginning: true,
    eachBatch: async (batch) => {
      await o.producer.send(batch.records.map((r) => ({ topic: o.to, key: r.key, value: r.value })));
      const last = batch.records.at(-1);
      if (last) batch.resolveOffset(last.offset);
      await batch.heartbeat();
    },
  });
}
