import { retriable } from '../errors.ts';
import type { OutboundRecord } from './adapter.ts';

/** Something that writes records: resolves once they are written, rejects when they may not be. */
export interface RecordSink {
  send(records: OutboundRecord[]): Promise<void>;
}

interface Pending {
  records: OutboundRecord[];
  resolve: () => void;
  reject: (e: unknown) => void;
  gaveUp: boolean;
  /** taken into a batch that is in flight */
  sent: boolean;
}

export interface BatchingOptions {
  /** how long a caller waits in the queue (and, unless the sink settles, in flight), ms */
  timeoutMs: number;
  maxRecords?: number;
  /** the sink bounds its own time and always says what happened (see above) */
  settles?: boolean;
  /**
   * With several sinks: a second batch flies beside those in flight once every one of them has
   * been in flight this long, ms (default 1,000). So under load one batch is in flight at a time
   * and the batches stay large, as with one sink, and one slow or stuck batch (a commit whose
   * outcome its sink is still learning after a broker died) holds up the callers behind it for
   * this long, not for its whole time.
   */
  spareAfterMs?: number;
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
 *
 * With several sinks (the gateway's instant orders: transactional sinks with ids of their own),
 * each has at most one batch in flight, and a second batch flies only when the one in flight is
 * slow (see `spareAfterMs`), so one commit whose outcome is being learnt after a broker died does
 * not hold up every caller behind it. One after another, the batches take turns among the sinks
 * whose last batch succeeded, the one idle longest first; those that failed last come after
 * them. Turns, since a transactional producer's next transaction right after its commit is
 * refused (CONCURRENT_TRANSACTIONS) until the coordinator has written the last one's markers:
 * with one sink carrying every batch, a quarter of the instant orders at 10 a second waited for
 * that refusal, a back-off and a second AddPartitionsToTxn.
 */
export class BatchingPublisher {
  private queue: Pending[] = [];
  /**
   * the sinks in order of preference: those whose last batch succeeded (or that have had none),
   * the one idle longest first, then those whose last batch failed, the last to fail last
   */
  private readonly sinks: RecordSink[];
  private readonly failed = new Set<RecordSink>();
  /** the sinks with a batch in flight, and when it left */
  private readonly flying = new Map<RecordSink, number>();
  private spareTimer: NodeJS.Timeout | undefined;

  constructor(
    sinks: RecordSink | RecordSink[],
    private readonly options: BatchingOptions,
  ) {
    this.sinks = Array.isArray(sinks) ? [...sinks] : [sinks];
    if (this.sinks.length === 0) throw new Error('BatchingPublisher needs at least one sink');
  }

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

  /** The sink the next batch goes to now, if any. */
  private nextSink(): RecordSink | undefined {
    const idle = this.sinks.find((s) => !this.flying.has(s));
    if (!idle || this.flying.size === 0) return idle;
    const spareAfter = this.options.spareAfterMs ?? 1_000;
    const newest = Math.max(...this.flying.values());
    const wait = newest + spareAfter - Date.now();
    if (wait <= 0) return idle;
    // look again when the newest batch in flight has been slow for long enough
    if (!this.spareTimer)
      this.spareTimer = setTimeout(() => {
        this.spareTimer = undefined;
        this.pump();
      }, wait).unref();
    return undefined;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const sink = this.nextSink();
      if (!sink) return;
      if (!this.dispatch(sink)) return;
    }
  }

  /** Sends the next batch from the queue through `sink`; false when the queue held none. */
  private dispatch(sink: RecordSink): boolean {
    const max = this.options.maxRecords ?? 5_000;
    const batch: Pending[] = [];
    let n = 0;
    while (this.queue.length > 0 && (batch.length === 0 || n + this.queue[0]!.records.length <= max)) {
      const item = this.queue.shift()!;
      if (item.gaveUp) continue;
      batch.push(item);
      n += item.records.length;
    }
    if (batch.length === 0) return false;
    for (const b of batch) b.sent = true;
    this.flying.set(sink, Date.now());
    sink
      .send(batch.flatMap((b) => b.records))
      .then(
        () => {
          this.prefer(sink, true);
          batch.forEach((b) => b.resolve());
        },
        (err: unknown) => {
          this.prefer(sink, false);
          batch.forEach((b) => b.reject(err));
        },
      )
      .finally(() => {
        this.flying.delete(sink);
        this.pump();
      });
    return true;
  }

  /** puts `sink` last among the sinks that succeeded last, or last of all when it failed */
  private prefer(sink: RecordSink, succeeded: boolean): void {
    this.sinks.splice(this.sinks.indexOf(sink), 1);
    if (succeeded) this.failed.delete(sink);
    else this.failed.add(sink);
    const firstFailed = this.sinks.findIndex((s) => this.failed.has(s));
    if (succeeded && firstFailed >= 0) this.sinks.splice(firstFailed, 0, sink);
    else this.sinks.push(sink);
  }
}
