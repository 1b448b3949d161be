import { PipelineError, retriable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { CommitControl, KafkaAdapter, OutboundRecord, TransactionalProducer } from './adapter.ts';
import type { RecordSink } from './batching.ts';

/** Whatever stopped a batch, its callers learn that Kafka did not take it (a retriable error). */
function unavailable(err: unknown) {
  return err instanceof PipelineError
    ? err
    : retriable('DEPENDENCY_UNAVAILABLE', `Kafka: ${(err as Error).message}`, err);
}

/** Records carry their producer's timestamp; allow for clock skew between hosts. */
const CLOCK_SKEW_MS = 60_000;

/**
 * Writes each batch in one Kafka transaction under a fixed transactional id, and always knows
 * what happened to it, so its caller can answer truthfully (the gateway: 201, or 503 with
 * nothing stored).
 *
 * - A failure before the commit is asked for aborts the transaction: nothing was stored.
 * - A failure after it (the broker went away with the commit in flight) leaves the outcome
 *   open. A fresh producer with the same id is initialised, which completes or aborts what
 *   the old one left; then the topics are read (committed records only) for the batch's
 *   records (topic, key and value bytes): found, the batch was stored and `send` resolves; not
 *   found, it rejects.
 * - After any failure the producer is replaced: kafkajs's transaction state cannot be trusted
 *   once a transaction failed (it may stay "COMMITTING" for good).
 */
export class TransactionalSink implements RecordSink {
  private producer: Promise<TransactionalProducer> | null = null;

  constructor(
    private readonly kafka: KafkaAdapter,
    private readonly transactionalId: string,
    private readonly log: Logger,
  ) {}

  /** Initialises the producer now, so the first batch does not pay for it. */
  async start(): Promise<void> {
    await this.current();
  }

  private current(): Promise<TransactionalProducer> {
    this.producer ??= (async () => {
      const producer = await this.kafka.transactionalProducer(this.transactionalId);
      try {
        await producer.init();
      } catch (err) {
        await producer.close().catch(() => undefined);
        throw err;
      }
      return producer;
    })().catch((err: unknown) => {
      this.producer = null;
      throw err;
    });
    return this.producer;
  }

  async send(records: OutboundRecord[], control?: CommitControl): Promise<void> {
    const producer = await this.current();
    let committing = false;
    const startedAt = Date.now();
    try {
      await producer.commit(records, undefined, {
        ...(control?.signal ? { signal: control.signal } : {}),
        committing: () => {
          committing = true;
          return control?.committing?.();
        },
      });
    } catch (err) {
      this.producer = null;
      await producer.close().catch(() => undefined);
      if (!committing) throw unavailable(err);
      this.log.warn({ err, records: records.length }, 'transaction commit failed; finding out whether it took');
      // the new producer's initialisation settles the old transaction before anything is read
      await this.current();
      const missing = await this.missing(records, startedAt);
      this.log.warn({ records: records.length, missing }, 'outcome of the failed commit');
      if (missing > 0) throw unavailable(err);
    }
  }

  async close(): Promise<void> {
    const producer = await this.producer?.catch(() => null);
    await producer?.close();
    this.producer = null;
  }

  /** How many of `records` (same topic, key and value bytes) are not on their topics since `since`. */
  private async missing(records: OutboundRecord[], since: number): Promise<number> {
    const wanted = new Map<string, Map<string, Buffer[]>>();
    for (const r of records) {
      let byKey = wanted.get(r.topic);
      if (!byKey) wanted.set(r.topic, (byKey = new Map()));
      const key = r.key === null ? '' : r.key.toString();
      byKey.set(key, [...(byKey.get(key) ?? []), r.value ?? Buffer.alloc(0)]);
    }
    let missing = 0;
    for (const [topic, byKey] of wanted) {
      await this.kafka.readSince(topic, since - CLOCK_SKEW_MS, (r) => {
        const values = byKey.get(r.key?.toString() ?? '');
        const i = values?.findIndex((v) => r.value !== null && v.equals(r.value)) ?? -1;
        if (i >= 0) values!.splice(i, 1);
      });
      for (const values of byKey.values()) missing += values.length;
    }
    return missing;
  }
}
