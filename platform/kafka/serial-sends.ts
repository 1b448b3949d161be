/**
 * One send at a time through an idempotent producer, the records that callers hand in meanwhile
 * going out together in the next one.
 *
 * Why one at a time: kafkajs numbers an idempotent producer's batches per partition when it
 * builds a request, and moves the number on only when the request succeeds. Two sends at once
 * on one producer: the first one's request reaches the leader, which appends it, and the
 * connection drops before the answer (a broker killed). While the first waits to retry, the
 * second is built with the same sequence number; the broker takes it for a retry of the first,
 * answers success with the first one's offset, and drops it. Its caller was told its record was
 * written: a receipt's status event, or an order the gateway acknowledged, gone. (The chaos test
 * lost an SMS's delivery report this way: its receipt marked reported, no event on the topic.)
 * With one send at a time, a send is built only once the one before it has succeeded or failed,
 * and after a failure the next one goes through a new producer (the adapter's rule), whose
 * numbering starts afresh.
 *
 * Why together: what waits while a send is under way goes in the next one, up to `maxBytes`, so
 * one at a time does not mean one request per caller under load (fewer, larger produce requests).
 */
export interface SerialSends<R> {
  send(records: R[]): Promise<void>;
}

interface Waiting<R> {
  records: R[];
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export function serialSends<R>(
  /** sends one batch; it must not be called again before it settles (this module ensures that) */
  sendBatch: (records: R[]) => Promise<void>,
  /** the size of a record, for `maxBytes` */
  size: (record: R) => number,
  /** most bytes gathered into one send (a caller's records always go in one send, whatever their size) */
  maxBytes: number,
): SerialSends<R> {
  let queue: Waiting<R>[] = [];
  let running: Promise<void> | null = null;

  const pump = async (): Promise<void> => {
    while (queue.length > 0) {
      // the callers that fit, in the order they came (at least one)
      let bytes = 0;
      let n = 0;
      while (n < queue.length && (n === 0 || bytes + queue[n]!.bytes <= maxBytes)) bytes += queue[n++]!.bytes;
      const batch = queue.slice(0, n);
      queue = queue.slice(n);
      try {
        await sendBatch(batch.flatMap((w) => w.records));
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
  };

  const start = () => {
    if (running) return;
    running = pump().finally(() => {
      running = null;
      // handed in while the last batch settled, after the loop looked
      if (queue.length > 0) start();
    });
  };

  return {
    send(records) {
      if (records.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ records, bytes: records.reduce((sum, r) => sum + size(r), 0), resolve, reject });
        start();
      });
    },
  };
}
