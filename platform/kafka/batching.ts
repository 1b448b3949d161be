import { retriable } from '../errors.ts';
import type { OutboundRecord } from './adapter.ts';

/** Something that writes records; `signal` aborts when every caller of the batch gave up. */
export interface RecordSink {
  send(records: OutboundRecord[], signal?: AbortSignal): Promise<void>;
}

/**
 * Sends the records of many concurrent callers in shared batches: while one batch is in flight,
 * the next one gathers, so under load each produce request carries many records (as the Java
 * client's linger.ms does) and no caller waits for more than the batch ahead of it. Each caller
 * learns the outcome of its own batch; a send that outlives `timeoutMs` fails that caller with a
 * retriable error. A caller that gave up is dropped from batches not yet sent; if a batch in
 * flight has a caller that gave up, its sink gets an aborted signal (a transactional sink
 * aborts rather than commits, so a 503 answer means nothing was stored), and every caller of
 * that batch fails. A plain producer cannot take back a batch in flight: callers of one must be
 * safe to retry.
 */
interface Pending {
  records: OutboundRecord[];
  resolve: () => void;
  reject: (e: unknown) => void;
  gaveUp: boolean;
  batch?: AbortController;
}

export class BatchingPublisher {
  private queue: Pending[] = [];
  private inFlight = false;

  constructor(
    private readonly producer: RecordSink,
    private readonly options: { timeoutMs: number; maxRecords?: number },
  ) {}

  send(records: OutboundRecord[]): Promise<void> {
    let pending!: Pending;
    const done = new Promise<void>((resolve, reject) => {
      pending = { records, resolve, reject, gaveUp: false };
    });
    this.queue.push(pending);
    this.pump();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        pending.gaveUp = true;
        pending.batch?.abort();
        reject(retriable('DEPENDENCY_UNAVAILABLE', `Kafka did not acknowledge within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
    });
    return Promise.race([done, deadline]).finally(() => clearTimeout(timer));
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const max = this.options.maxRecords ?? 5_000;
    const batch: Pending[] = [];
    let n = 0;
    while (this.queue.length > 0 && (batch.length === 0 || n + this.queue[0]!.records.length <= max)) {
      const item = this.queue.shift()!;
      if (item.gaveUp) continue;
      batch.push(item);
      n += item.records.length;
    }
    if (batch.length === 0) return;
    const controller = new AbortController();
    for (const b of batch) b.batch = controller;
    this.inFlight = true;
    this.producer
      .send(
        batch.flatMap((b) => b.records),
        controller.signal,
      )
      .then(
        () => batch.forEach((b) => b.resolve()),
        (err: unknown) => batch.forEach((b) => b.reject(err)),
      )
      .finally(() => {
        this.inFlight = false;
        this.pump();
      });
  }
}
