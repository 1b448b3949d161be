import { randomUUID } from 'node:crypto';
import type { KafkaAdapter, OutboundRecord, PlainProducer } from '../../platform/kafka/adapter.ts';
import { BatchingPublisher } from '../../platform/kafka/batching.ts';
import { missingOnTopics, TransactionalSink } from '../../platform/kafka/transactional-sink.ts';
import type { Logger } from '../../platform/logger.ts';
import { topicName } from '../../platform/topics.ts';

/** Writes an instant order's records in one transaction, and tells whether they were written. */
export interface InstantProducer extends Pick<PlainProducer, 'send'> {
  /** the transactional ids this gateway writes with, stored with its claims for a takeover to fence */
  readonly ids: readonly string[];
  /**
   * Whether these records were committed since `sinceMs` (a transaction is atomic: its record on
   * an instant lane tells for the rest). First initialises a producer under each id of `fence`
   * (a gone gateway's `ids`), which fences that gateway's producers and ends the transactions it
   * left open: one left open holds the read until it ends, up to its timeout (30 s) otherwise.
   */
  stored(records: OutboundRecord[], sinceMs: number, fence?: readonly string[], signal?: AbortSignal): Promise<boolean>;
}

export interface InstantPublisherOptions {
  /** how many transactional producers (`INSTANT_PRODUCERS`) */
  producers: number;
  /** the start of their transactional ids; each gets a fresh UUID and its number after it */
  idBase: string;
  topicPrefix: string;
  /** how long a caller waits in the queue, and a transaction may take up to its commit, ms */
  timeoutMs?: number;
  /** how long learning a cut-off commit's outcome may take, ms */
  outcomeTimeoutMs?: number;
}

/**
 * The gateway's instant orders: one transaction per batch (per-process ids: no input to fence),
 * so their 503 means nothing was stored, or that a retry with the same idempotencyId writes the
 * same records (see TransactionalSink). A caller waits at most `timeoutMs` (10 s) in the queue,
 * then at most as long for its batch's transaction and `outcomeTimeoutMs` (15 s) more if its
 * commit's outcome must be learnt (read on the instant lanes), and gets its batch's answer. A
 * second producer takes the next batch once the one in flight has taken a second
 * (BatchingPublisher), so one commit cut off by a broker's death holds up only its own batch.
 *
 * The producers start in the background (`started` settles when each has tried once): a gateway
 * started while a broker is down serves everything else at once, and a producer that is not
 * ready yet is initialised by the first batch it carries.
 */
export function instantPublisher(
  kafka: Pick<KafkaAdapter, 'transactionalProducer' | 'readSince'>,
  log: Logger,
  options: InstantPublisherOptions,
) {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const run = randomUUID();
  const lanes = new Set([topicName(options.topicPrefix, 'smsInstant'), topicName(options.topicPrefix, 'emailInstant')]);
  const sinks = Array.from(
    { length: options.producers },
    (_, n) =>
      new TransactionalSink(kafka, `${options.idBase}-${run}-${n}`, log, {
        sendTimeoutMs: timeoutMs,
        outcomeTimeoutMs: options.outcomeTimeoutMs ?? 15_000,
        outcomeTopics: [...lanes],
      }),
  );
  const started = Promise.all(
    sinks.map((sink) =>
      sink.start().then(
        () => true,
        (err: unknown) => {
          log.warn({ err }, 'instant producer not ready yet; the next order tries again');
          return false;
        },
      ),
    ),
  );
  const batching = new BatchingPublisher(sinks, { timeoutMs, settles: true });
  const ids = sinks.map((s) => s.transactionalId);
  const own = new Set(ids);
  const fenceAll = async (fence: readonly string[]) => {
    await Promise.all(
      fence
        .filter((id) => !own.has(id))
        .map(async (id) => {
          const producer = await kafka.transactionalProducer(id);
          try {
            await producer.init();
          } finally {
            await producer.close().catch(() => undefined);
          }
        }),
    );
  };
  const publisher: InstantProducer = {
    ids,
    send: (records) => batching.send(records),
    stored: async (records, sinceMs, fence = [], signal) => {
      await fenceAll(fence);
      return (await missingOnTopics(kafka, records, sinceMs, lanes, signal)) === 0;
    },
  };
  return {
    publisher,
    /** whether each producer was ready when it first tried */
    started,
    close: async () => {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}
