import { retriableAfterRewind, type OutboundRecord, type TransactionalProducer } from '../../platform/kafka/adapter.ts';

/**
 * What the runner keeps per input partition. Its transactions commit one after another on
 * `tail`; a failure drops `producer` and clears `verified`, so the partition is re-verified
 * (producer initialised, committed offset read) before it is handled again.
 */
export interface PartitionLink {
  producer: TransactionalProducer | null;
  /** false until the producer is initialised and the committed offset re-read (after any rebalance or failure) */
  verified: boolean;
  /**
   * the partition's commits run one after another on this chain; it never rejects. A commit
   * that fails drops the producer, so the ones queued after it, made with that producer, are
   * skipped
   */
  tail: Promise<void>;
  /**
   * bumped by every (re)assignment: a batch handed out before it must not commit. After a
   * consumer restart (the broker went away) the old batch's handler may still be running; its
   * records are the new consumer's to handle again, from the committed offset
   */
  generation: number;
  /**
   * the group's committed offset read when the partition was last verified, until a record at or
   * past it is read: every record below it was handled by an earlier owner and is passed by, in
   * whichever batch the consumer brings it. The consumer can start more than a batch below it:
   * its own offset read on joining is not stable, and unpatched kafkajs kept a seek made while the
   * member held the partition before (the runner's own, after a failed commit) and applied it when
   * the partition came back, however much later (the patch drops it; this holds either way)
   */
  floor: bigint | null;
}

/** The consumer's hold on the batch: where its position is and how to move it. */
export interface BatchPosition {
  /** the consumer's position moves past `offset` */
  resolveOffset(offset: string): void;
  /** the consumer reads again from `offset` */
  seek(offset: string): void;
  heartbeat(): Promise<void>;
}

export interface TransactionLimits {
  /** input records per transaction */
  maxRecords: number;
  /** bytes of output per transaction (whole input records; the first may exceed it) */
  maxBytes: number;
  /**
   * how long a transaction stays open, ms: one that has been open this long commits with the
   * next input added, so a slow stage (a sender at its provider's pace) still commits, and
   * shows progress, every so often (0: no bound)
   */
  maxMs?: number;
  /** the clock for maxMs (tests) */
  now?: () => number;
}

export interface CommitTarget {
  groupId: string;
  topic: string;
  partition: number;
}

/** What happened at a commit, for metrics and the stage's after-commit step. */
export interface Committed {
  records: OutboundRecord[];
  /** the input values of the transaction (only those `add` was given) */
  values: unknown[];
  /** the last input offset it covers */
  offset: string;
  seconds: number;
}

/**
 * One batch's transactions on its partition. Input records' outputs are added in offset order;
 * a transaction grows by whole input records, is committed when it reaches `maxRecords` inputs,
 * would pass `maxBytes`, or has been open `maxMs` when an input is added, and with `flush`. Every commit writes the outputs and the input
 * offset (last + 1) for the group in one Kafka transaction, after the partition's previous
 * commit (the `tail`), so commits stay in order.
 *
 * A commit that fails may or may not have committed: the producer is dropped and closed, the
 * partition marked unverified, and the consumer sent back to the transaction's first record;
 * every commit queued after it then refuses (its records are read again). A batch whose
 * partition was reassigned since it was fetched refuses to commit at all.
 */
export class TransactionBatcher {
  private pending: OutboundRecord[] = [];
  private values: unknown[] = [];
  private inputs = 0;
  private bytes = 0;
  private first: string | null = null;
  private last: string | null = null;
  private openedAt = 0;

  constructor(
    private readonly link: PartitionLink,
    private readonly producer: TransactionalProducer,
    private readonly target: CommitTarget,
    private readonly position: BatchPosition,
    private readonly limits: TransactionLimits,
    private readonly hooks: {
      committed(c: Committed): void;
      failed(err: unknown): void;
    },
    private readonly generation = link.generation,
  ) {}

  /** false once this batch may no longer commit: a transaction before it failed, or the partition was reassigned */
  current(): boolean {
    return this.link.producer === this.producer && this.link.generation === this.generation;
  }

  /** the last input offset added and not yet committed */
  get lastOffset(): string | null {
    return this.last;
  }

  /**
   * Adds one input record's outputs (`bytes` their size on the wire). Resolves once any commit
   * it caused is done; returns undefined, without a promise, when it caused none (the common
   * case, kept off the microtask queue).
   */
  add(offset: string, outputs: OutboundRecord[], bytes: number, value?: unknown): Promise<void> | undefined {
    // A transaction grows by whole input records; keep its bytes under what the broker takes.
    const before = this.bytes > 0 && this.bytes + bytes > this.limits.maxBytes ? this.flush() : undefined;
    if (before) return before.then(() => this.add(offset, outputs, bytes, value));
    for (const r of outputs) this.pending.push(r);
    if (value !== undefined) this.values.push(value);
    this.bytes += bytes;
    this.inputs++;
    const now = this.limits.maxMs ? (this.limits.now ?? Date.now)() : 0;
    if (this.first === null) this.openedAt = now;
    this.first ??= offset;
    this.last = offset;
    const tooLong = this.limits.maxMs ? now - this.openedAt >= this.limits.maxMs : false;
    return this.inputs >= this.limits.maxRecords || tooLong ? this.flush() : undefined;
  }

  /**
   * Commits what is pending, after the partition's commit under way (maybe the previous
   * batch's). `behind`: the batch's position has moved on already, so leave it alone.
   */
  flush(behind = false): Promise<void> {
    const commit = this.link.tail.then(() => this.commitPending(behind));
    this.link.tail = commit.catch(() => undefined);
    return commit;
  }

  // It takes its records and offset first, so records added meanwhile wait for the next commit
  // instead of being lost.
  private async commitPending(behind: boolean): Promise<void> {
    if (this.last === null) return;
    // An earlier transaction failed: committing this one would skip its records. They are read
    // again after the rewind. Or the partition was assigned again since this batch was fetched:
    // its records are read again from the committed offset, and must not commit twice.
    if (!this.current()) throw new Error('an earlier transaction of this partition failed, or it was reassigned');
    const records = this.pending;
    const values = this.values;
    const offset = this.last;
    const from = this.first;
    this.pending = [];
    this.values = [];
    this.inputs = 0;
    this.bytes = 0;
    this.first = null;
    this.last = null;
    const started = process.hrtime.bigint();
    try {
      await this.producer.commit(records, { ...this.target, offset: (BigInt(offset) + 1n).toString() });
    } catch (err) {
      // The transaction may or may not have committed: drop the producer and re-verify the
      // committed offset before this partition is processed again.
      this.hooks.failed(err);
      this.link.verified = false;
      this.link.producer = null;
      // Read its records again (the consumer may be past them already, and with no new records
      // there would be no next batch to notice); any that did commit are skipped then.
      if (from !== null) this.position.seek(from);
      await this.producer.close().catch(() => undefined);
      throw retriableAfterRewind(err);
    }
    this.hooks.committed({ records, values, offset, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
    if (!behind) this.position.resolveOffset(offset);
    await this.position.heartbeat();
  }
}
