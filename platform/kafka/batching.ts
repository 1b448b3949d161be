import { retriable } from '../errors.ts';
import type { OutboundRecord, PlainProducer } from './adapter.ts';

/**
 * Sends the records of many concurrent callers in shared batches: while one batch is in flight,
 * the next one gathers, so under load each produce request carries many records (as the Java
 * client's linger.ms does) and no caller waits for more than the batch ahead of it. Each caller
 * learns the outcome of its own batch; a send that outlives `timeoutMs` fails that caller with a
 * retriable error (the producer may still deliver it: callers must be safe to retry).
 */
export class BatchingPublisher {
  private queue: { records: OutboundRecord[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private inFlight = false;

  constructor(
    private readonly producer: PlainProducer,
    private readonly options: { timeoutMs: number; maxRecords?: number },
  ) {}

  send(records: OutboundRecord[]): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
    });
    this.pump();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(retriable('DEPENDENCY_UNAVAILABLE', `Kafka did not acknowledge within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
    });
    return Promise.race([done, deadline]).finally(() => clearTimeout(timer));
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const max = this.options.maxRecords ?? 5_000;
    const batch: typeof this.queue = [];
    let n = 0;
    while (this.queue.length > 0 && (batch.length === 0 || n + this.queue[0]!.records.length <= max)) {
      const item = this.queue.shift()!;
      batch.push(item);
      n += item.records.length;
    }
    this.inFlight = true;
    this.producer
      .send(batch.flatMap((b) => b.records))
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
