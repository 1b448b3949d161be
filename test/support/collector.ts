import type { KafkaAdapter } from '../../platform/kafka/adapter.ts';

/**
 * Counts the committed records of a topic by key as they arrive; `waitFor` resolves on the record
 * that makes its condition true (no polling).
 */
export async function collectKeys(kafka: KafkaAdapter, groupId: string, topic: string) {
  const counts = new Map<string, number>();
  const lastSeen = new Map<number, bigint>();
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
      const key = r.key?.toString() ?? '';
      counts.set(key, (counts.get(key) ?? 0) + 1);
      lastSeen.set(r.partition, BigInt(r.offset));
      total++;
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
     * Resolves once every partition has been read up to `ends` (its high watermarks). In a
     * transactional topic the last offset is the final commit marker, so one offset may remain.
     */
    readTo(ends: Map<number, string>, timeoutMs: number): Promise<void> {
      return this.waitFor(
        () => [...ends].every(([p, high]) => BigInt(high) === 0n || (lastSeen.get(p) ?? -1n) + 2n >= BigInt(high)),
        timeoutMs,
        'the end of every partition',
      );
    },
    stop: () => handle.stop(),
  };
}
