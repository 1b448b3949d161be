import { retriable } from '../errors.ts';
import type { CommitControl, OutboundRecord } from './adapter.ts';

/**
 * Something that writes records. A transactional sink honours `control`: it aborts instead of
 * committing when the signal is aborted (a caller of the batch gave up), and calls `committing`
 * once it asks for the commit, after which it can no longer take the batch back.
 */
export interface RecordSink {
  send(records: OutboundRecord[], control?: CommitControl): Promise<void>;
}

/**
 * Sends the records of many concurrent callers in shared batches: while one batch is in flight,
 * the next one gathers, so under load each produce request carries many records (as the Java
 * client's linger.ms does) and no caller waits for more than the batch ahead of it. Each caller
 * learns the outcome of its own batch; a send that outlives `timeoutMs` fails that caller with a
 * retriable error. A caller that gave up is dropped from batches not yet sent; if a batch in
 * flight has a caller that gave up, its sink gets an aborted signal (a transactional sink
 * aborts rather than commits, so a 503 answer means nothing was stored), and every caller of
 * that batch fails. Once a transactional sink has asked for the commit, the batch can no longer
 * be taken back, so its callers wait for the outcome instead of timing out: a failure answered
 * then means the commit failed. A plain producer cannot take back a batch in flight: callers of
 * one must be safe to retry.
 */
interface Pending {
  records: OutboundRecord[];
  resolve: () => void;
  reject: (e: unknown) => void;
  gaveUp: boolean;
  /** its batch's commit was asked for: the outcome decides, not the deadline */
  committing: boolean;
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
      pending = { records, resolve, reject, gaveUp: false, committing: false };
    });
    this.queue.push(pending);
    this.pump();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (pending.committing) return;
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
        {
          signal: controller.signal,
          committing: () => {
            for (const b of batch) b.committing = true;
          },
        },
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
