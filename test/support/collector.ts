import type { KafkaAdapter } from '../../platform/kafka/adapter.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { topicName } from '../../platform/topics.ts';
import { until } from './stack.ts';

/**
 * Counts the committed records of a topic by key as they arrive, each offset once; `waitFor`
 * resolves on the record that makes its condition true (no polling).
 */
export async function collectKeys(kafka: KafkaAdapter, groupId: string, topic: string) {
  const counts = new Map<string, number>();
  // how far the consumer got in each partition, transaction markers and aborted records included
  const passed = new Map<number, bigint>();
  const pass = (partition: number, offset: bigint) => {
    if (offset > (passed.get(partition) ?? -1n)) passed.set(partition, offset);
  };
  let total = 0;
  const waiters = new Set<{ pred: () => boolean; resolve: () => void }>();
  const check = () => {
    for (const w of waiters) {
      if (w.pred()) {
        waiters.delete(w);
        w.resolve();
      }
    }
  };
  const handle = await kafka.collect({
    groupId,
    topics: [topic],
    onRecord: (r) => {
      // A record read again (the group rejoined and restarted from the beginning, having
      // committed nothing) is the same offset, not a second copy in the topic: count it once.
      if (BigInt(r.offset) <= (passed.get(r.partition) ?? -1n)) return;
      const key = r.key?.toString() ?? '';
      counts.set(key, (counts.get(key) ?? 0) + 1);
      pass(r.partition, BigInt(r.offset));
      total++;
      check();
    },
    onProgress: (partition, lastOffset) => {
      pass(partition, BigInt(lastOffset));
      check();
    },
  });
  return {
    counts,
    get total() {
      return total;
    },
    get distinct() {
      return counts.size;
    },
    get duplicated() {
      return [...counts.values()].filter((n) => n > 1).length;
    },
    waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
      if (pred()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (have ${total} records)`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    /**
     * Resolves once every partition has been read up to `ends` (its high watermarks): the
     * consumer has passed the last offset, whether a record, a transaction marker (several may
     * close a partition when transactions interleave) or an aborted record.
     */
    readTo(ends: Map<number, string>, timeoutMs: number): Promise<void> {
      return this.waitFor(
        () => [...ends].every(([p, high]) => BigInt(high) === 0n || (passed.get(p) ?? -1n) + 1n >= BigInt(high)),
        timeoutMs,
        'the end of every partition',
      );
    },
    stop: () => handle.stop(),
  };
}

/**
 * Reads a prefix's status topic as it is committed: each event, decoded, goes to `onEvent`, and
 * then every `waitUntil` still waiting checks its predicate again (once per event-loop turn,
 * however many events came; see `until`).
 */
export async function watchStatuses(
  kafka: KafkaAdapter,
  codec: AvroCodec,
  prefix: string,
  onEvent: (event: StatusEvent) => void,
  groupId = `${prefix}statuses`,
) {
  const pokes = new Set<() => void>();
  const consumer = await kafka.collect({
    groupId,
    topics: [topicName(prefix, 'status')],
    onRecord: (r) =>
      void codec.decode('status', r.value).then((v) => {
        onEvent(v);
        for (const p of pokes) p();
      }),
  });
  return {
    stop: () => consumer.stop(),
    /** resolves when `predicate` holds, or rejects after `timeoutMs` naming `what` */
    waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
      const u = until(predicate, timeoutMs, what);
      pokes.add(u.poke);
      return u.done.finally(() => pokes.delete(u.poke));
    },
  };
}
