import { retriable } from '../errors.ts';
import type { OutboundRecord } from './adapter.ts';

/** Something that writes records: resolves once they are written, rejects when they may not be. */
export interface RecordSink {
  send(records: OutboundRecord[]): Promise<void>;
}

/**
 * Sends the records of many concurrent callers in shared batches: while one batch is in flight,
 * the next one gathers, so under load each produce request carries many records (as the Java
 * client's linger.ms does) and no caller waits for more than the batch ahead of it. Each caller
 * learns the outcome of its own batch.
 *
 * A caller still queued after `timeoutMs` is dropped and fails with a retriable error: nothing
 * of its was sent. Once its batch is in flight, what happens at the deadline depends on the sink:
 *
 * - a sink that bounds its own time and always knows, or says it does not know, what happened
 *   (`settles: true`, the TransactionalSink) is waited for: its answer is the caller's answer.
 *   A batch is never given up because one of its callers waited long in the queue: that turned
 *   a few slow seconds of Kafka (leaders moving back to a restarted broker) into minutes in which
 *   every batch was aborted, since its oldest caller always timed out mid-flight, each abort
 *   cost a new producer, and the next batch waited longer still;
 * - a plain producer cannot take back a batch in flight: its callers fail at the deadline, and
 *   must be safe to retry (the records may be written yet).
 */
interface Pending {
  records: OutboundRecord[];
  resolve: () => void;
  reject: (e: unknown) => void;
  gaveUp: boolean;
  /** taken into a batch that is in flight */
  sent: boolean;
}

export class BatchingPublisher {
  private queue: Pending[] = [];
  private inFlight = false;

  constructor(
    private readonly producer: RecordSink,
    private readonly options: { timeoutMs: number; maxRecords?: number; settles?: boolean },
  ) {}

  send(records: OutboundRecord[]): Promise<void> {
    let pending!: Pending;
    const done = new Promise<void>((resolve, reject) => {
      pending = { records, resolve, reject, gaveUp: false, sent: false };
    });
    this.queue.push(pending);
    this.pump();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (pending.sent && this.options.settles) return;
        pending.gaveUp = true;
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
    for (const b of batch) b.sent = true;
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
