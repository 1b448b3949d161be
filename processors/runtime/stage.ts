import type { GatedLane } from '../../platform/redis/schedule-store.ts';
import type { Logger } from '../../platform/logger.ts';
import type { PipelineError } from '../../platform/errors.ts';
import { permanent } from '../../platform/errors.ts';
import type { TopicKey, TopicValues } from '../../platform/topics.ts';

/** One record a stage wants written, typed by its topic's schema. */
export type Emission = {
  [K in TopicKey]: { topic: K; key: string; value: TopicValues[K]; headers?: Record<string, string> };
}[TopicKey];

/**
 * What a stage decided about one input record. The runtime acts on it; a stage never touches
 * Kafka itself.
 */
export type Outcome =
  | { kind: 'emit'; records: Emission[] }
  | { kind: 'skip'; reason: string }
  | { kind: 'retry'; error: PipelineError; afterMs?: number }
  | { kind: 'dead'; error: PipelineError; also?: Emission[] }
  | Deferred;

/**
 * Hold `value` until `until` (ms), then write it to the stage's `defer.output` exactly once. The
 * runtime keeps it in the stage's schedule store (Redis) and a releaser writes it when it falls
 * due; one due already is written in this record's own transaction, claimed in the store so the
 * releaser never writes it too. `id` names it in the store: deferring the same id again (a
 * replay) changes nothing once it was written. `also`: records written now, with the decision,
 * unless the id was written or is being written already.
 */
export interface Deferred {
  kind: 'defer';
  id: string;
  until: number;
  value: unknown;
  reason: string;
  also?: Emission[];
  /**
   * hold it in this gated lane of the store, with this cost there: it waits for its time and
   * then for the lane's gate (`ReleaseGate`), and goes through the releaser even when due already
   */
  lane?: { name: GatedLane; cost: number };
}

/** What a deferring stage declares: where its held values go, and under which names. */
export interface Deferral {
  /** names the releaser (its transactional id and metrics label); keep it across versions */
  name: string;
  /** the schedule store's Redis key prefix (under the environment's); keep it across versions */
  keyPrefix: string;
  /** where a held value is written when it falls due */
  output: TopicKey;
  /** the Kafka key of a written value (default: its id) */
  keyOf?: (value: unknown, id: string) => string;
  /** records written with each held value when it is written (e.g. a status event) */
  alsoEmit?: (value: unknown, now: number) => Emission[];
}

export const emit = (...records: Emission[]): Outcome => ({ kind: 'emit', records });
export const skip = (reason: string): Outcome => ({ kind: 'skip', reason });
export const retry = (error: PipelineError, afterMs?: number): Outcome =>
  afterMs === undefined ? { kind: 'retry', error } : { kind: 'retry', error, afterMs };
export const dead = (error: PipelineError): Outcome => ({ kind: 'dead', error });
export const defer = (d: Omit<Deferred, 'kind'>): Outcome => ({ kind: 'defer', ...d });
export const deadFor = (message: string): Outcome => dead(permanent('INVALID_RECORD', message));
/** Dead-letters the record and, in the same transaction, emits `also` (e.g. a status event). */
export const deadWith = (error: PipelineError, ...also: Emission[]): Outcome => ({ kind: 'dead', error, also });

/** Names one input record: `topic:partition:offset`. */
export function recordSource(r: { topic: string; partition: number; offset: string }): string {
  return `${r.topic}:${r.partition}:${r.offset}`;
}

export interface RecordContext {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  /** ms since epoch, from the record's timestamp */
  timestamp: number;
  headers: Record<string, Buffer | undefined>;
  /** 1 on the first try, then 2, 3, … while the runtime retries this record */
  attempt: number;
  /** child logger carrying stage, topic, partition, offset and key */
  readonly logger: Logger;
}

/**
 * A stage: a pure decision over one typed record, with its ports (registry, clock, Redis, …)
 * closed over by the factory that builds it. Thrown PipelineErrors are read by their
 * `retriable` flag; anything else thrown counts as UNEXPECTED.
 */
export interface Stage<I extends TopicKey = TopicKey> {
  /** kebab-case; names the consumer group, the metrics label and the logger */
  readonly name: string;
  /**
   * Optional: the consumer group it reads its input in (default: its name), for a stage that
   * takes over another's input with that stage's committed offsets (see `fuse`)
   */
  readonly group?: string;
  readonly input: I;
  /** topics this stage may emit to (the dead-letter topic is always allowed) */
  readonly outputs: readonly TopicKey[];
  handle(value: TopicValues[I], ctx: RecordContext): Promise<Outcome> | Outcome;
  /**
   * Optional: called with a batch's decodable values before they are handled one by one, so a
   * stage can do its I/O for the whole batch at once (e.g. pipelined Redis writes). It must be
   * idempotent and may fail: `handle` still runs for every record and must not rely on it.
   * `handle` receives the very objects passed here, so a stage can keep per-record results in a
   * WeakMap keyed by them (batches of several partitions are prepared at once). `sources[i]` is
   * `recordSource` of the record `values[i]` came from.
   */
  prepare?(values: TopicValues[I][], sources: string[]): Promise<void>;
  /**
   * Optional: called once a transaction of this stage has committed, with the values of the input
   * records it took (those handled to an emit or a skip). For bookkeeping that must follow the
   * commit, e.g. marking items published; it may fail (logged), so whatever it records must also
   * be recoverable without it.
   */
  committed?(values: TopicValues[I][]): Promise<void>;
  /**
   * Optional: the stage holds values for later with `defer` outcomes; the runtime owns the
   * schedule store and the releaser this names.
   */
  readonly defer?: Deferral;
  /**
   * Optional: `handle` answers at once and does no I/O (a pure decision), so the runtime may
   * decide a whole batch before it writes it, and settle the batch's deferrals in a few store
   * round trips instead of one per record.
   */
  readonly pure?: boolean;
  /**
   * Optional: how many records of a partition's batch may be in `handle` at once (default 1).
   * Their outputs are still written, and their offsets committed, in the partition's order; two
   * records with the same key are never handled at the same time. For stages whose work is
   * waiting on a server that takes many requests at once (an SMTP pool, an SMPP window).
   */
  readonly concurrency?: number;
}

export function defineStage<I extends TopicKey>(stage: Stage<I>): Stage<I> {
  return stage;
}
