import { PipelineError, retriable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { KafkaAdapter, OutboundRecord, TransactionalProducer } from './adapter.ts';
import type { RecordSink } from './batching.ts';

/** Whatever stopped a batch, its callers learn that Kafka did not take it (a retriable error). */
function unavailable(err: unknown) {
  return err instanceof PipelineError
    ? err
    : retriable('DEPENDENCY_UNAVAILABLE', `Kafka: ${(err as Error).message}`, err);
}

/** Records carry their producer's timestamp; allow for clock skew between hosts. */
const CLOCK_SKEW_MS = 60_000;

class Timeout extends Error {}

/** `work`, or a Timeout after `ms` (the work itself goes on; its outcome is then ignored). */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export interface TransactionalSinkOptions {
  /** how long initialising the producer, or a transaction up to its commit, may take, ms */
  sendTimeoutMs?: number;
  /** how long learning the outcome of a commit that failed or did not answer may take, ms */
  outcomeTimeoutMs?: number;
  /**
   * Where to look for a batch's records when its outcome is open: a transaction is atomic, so
   * the records on one topic tell for the whole batch, and the topics least written to are read
   * fastest (the gateway's instant lanes rather than the busy status topic). Those of the batch's
   * topics that are listed here are read; a batch with none of them is looked for everywhere.
   */
  outcomeTopics?: string[];
}

/**
 * Writes each batch in one Kafka transaction under a fixed transactional id, and always knows
 * what happened to it, or says that it does not, within a bounded time, so its caller can
 * answer truthfully (the gateway: 201, or 503 with nothing stored, or 503 that a retry with
 * the same key settles).
 *
 * - A failure before the commit is asked for aborts the transaction: nothing was stored.
 * - So does a transaction that has not reached its commit within `sendTimeoutMs` (a kafkajs
 *   request can retry for good against a cluster that lost a broker): the attempt is told not
 *   to commit, the producer is dropped, and a fresh one with the same id is initialised at once,
 *   which fences the old one and aborts its open transaction (so it does not hold back
 *   read_committed consumers until the transaction timeout).
 * - A failure after it (the broker went away with the commit in flight), or a commit that does
 *   not answer within `sendTimeoutMs`, leaves the outcome open. A fresh producer with the same
 *   id is initialised, which completes or aborts what the old one left; then the topics are read
 *   (committed records only) for the batch's records (topic, key and value bytes): found, the
 *   batch was stored and `send` resolves; not found, it rejects with DEPENDENCY_UNAVAILABLE.
 *   When that cannot be learnt within `outcomeTimeoutMs`, it rejects with OUTCOME_UNKNOWN: the
 *   records may be stored, and whoever retries must write the same ones.
 * - After any failure the producer is replaced: kafkajs's transaction state cannot be trusted
 *   once a transaction failed (it may stay "COMMITTING" for good).
 *
 * So `send` always settles, within about sendTimeoutMs + outcomeTimeoutMs, and one stuck
 * transaction never holds up the batches behind it for longer.
 */
export class TransactionalSink implements RecordSink {
  private producer: Promise<TransactionalProducer> | null = null;
  private readonly sendTimeoutMs: number;
  private readonly outcomeTimeoutMs: number;
  private readonly outcomeTopics: Set<string>;

  constructor(
    private readonly kafka: Pick<KafkaAdapter, 'transactionalProducer' | 'readSince'>,
    readonly transactionalId: string,
    private readonly log: Logger,
    options: TransactionalSinkOptions = {},
  ) {
    this.sendTimeoutMs = options.sendTimeoutMs ?? 15_000;
    this.outcomeTimeoutMs = options.outcomeTimeoutMs ?? 60_000;
    this.outcomeTopics = new Set(options.outcomeTopics ?? []);
  }

  /** Initialises the producer now, so the first batch does not pay for it. */
  async start(): Promise<void> {
    await this.current();
  }

  private current(): Promise<TransactionalProducer> {
    this.producer ??= (async () => {
      const producer = await this.kafka.transactionalProducer(this.transactionalId);
      try {
        await within(producer.init(), this.sendTimeoutMs, 'initialising the transactional producer');
      } catch (err) {
        this.drop(producer);
        throw err;
      }
      return producer;
    })().catch((err: unknown) => {
      this.producer = null;
      throw err;
    });
    return this.producer;
  }

  /** Closes a producer that is no longer trusted, without waiting on it: it may be stuck. */
  private drop(producer: TransactionalProducer): void {
    void producer.close().catch(() => undefined);
  }

  async send(records: OutboundRecord[]): Promise<void> {
    const producer = await this.current().catch((err: unknown) => {
      throw unavailable(err);
    });
    let committing = false;
    const startedAt = Date.now();
    // aborted when this sink gives up on the attempt: it must then never ask for the commit
    const abandon = new AbortController();
    const attempt = producer.commit(records, undefined, {
      signal: abandon.signal,
      committing: () => {
        committing = true;
      },
    });
    try {
      await within(attempt, this.sendTimeoutMs, 'the transaction');
    } catch (err) {
      // `committing` is set in the same tick as the adapter's last look at the signal, so once
      // this abort is seen, an attempt that has not asked for the commit never will
      abandon.abort();
      attempt.catch(() => undefined);
      this.producer = null;
      this.drop(producer);
      if (!committing) {
        if (err instanceof Timeout) {
          this.log.warn({ records: records.length }, `${err.message} before its commit; abandoned`);
          // fence the stuck producer now, so its open transaction is aborted at once
          this.current().catch(() => undefined);
        }
        throw unavailable(err);
      }
      this.log.warn({ err, records: records.length }, 'transaction commit failed; finding out whether it took');
      let missing: number;
      const reading = new AbortController();
      try {
        missing = await within(
          (async () => {
            // the new producer's initialisation settles the old transaction before anything is read
            await this.current();
            return missingOnTopics(this.kafka, records, startedAt, this.outcomeTopics, reading.signal);
          })(),
          this.outcomeTimeoutMs,
          'learning whether the commit took effect',
        );
      } catch (outcomeErr) {
        // a read still under way is ended, not left running
        reading.abort(outcomeErr);
        this.log.error({ err: outcomeErr, records: records.length }, 'outcome of the failed commit unknown');
        throw new PipelineError(
          'OUTCOME_UNKNOWN',
          `Kafka: a transaction's commit failed and whether it took is unknown (${(outcomeErr as Error).message})`,
          { retriable: true, cause: err },
        );
      }
      this.log.warn({ records: records.length, missing }, 'outcome of the failed commit');
      if (missing > 0) throw unavailable(err);
    }
  }
  async close(): Promise<void> {
    const producer = await this.producer?.catch(() => null);
    await producer?.close();
    this.producer = null;
  }
}

/**
 * How many of `records` (same topic, key and value bytes) are not on their topics among the
 * committed records written since `since` (less CLOCK_SKEW_MS): those on `outcomeTopics`, when
 * the records have any (a transaction is atomic: its records on one topic tell for all of it).
 * Only complete transactions are read, so an open one holds the read until it ends.
 */
export async function missingOnTopics(
  kafka: Pick<KafkaAdapter, 'readSince'>,
  all: OutboundRecord[],
  since: number,
  outcomeTopics: ReadonlySet<string>,
  /** ends the reads when the caller stops waiting for them (`readSince`) */
  signal?: AbortSignal,
): Promise<number> {
  const witnesses = all.filter((r) => outcomeTopics.has(r.topic));
  const records = witnesses.length > 0 ? witnesses : all;
  const wanted = new Map<string, Map<string, Buffer[]>>();
  for (const r of records) {
    let byKey = wanted.get(r.topic);
    if (!byKey) wanted.set(r.topic, (byKey = new Map()));
    const key = r.key === null ? '' : r.key.toString();
    byKey.set(key, [...(byKey.get(key) ?? []), r.value ?? Buffer.alloc(0)]);
  }
  let missing = 0;
  for (const [topic, byKey] of wanted) {
    await kafka.readSince(
      topic,
      since - CLOCK_SKEW_MS,
      (r) => {
        const values = byKey.get(r.key?.toString() ?? '');
        const i = values?.findIndex((v) => r.value !== null && v.equals(r.value)) ?? -1;
        if (i >= 0) values!.splice(i, 1);
      },
      signal,
    );
    for (const values of byKey.values()) missing += values.length;
  }
  return missing;
}
