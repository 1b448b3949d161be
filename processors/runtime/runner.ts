import type { Config } from '../../platform/config.ts';
import { REPLAY_FOR_HEADER } from '../../platform/dead-letters.ts';
import type { PipelineError } from '../../platform/errors.ts';
import { classify, permanent } from '../../platform/errors.ts';
import type {
  ConsumerHandle,
  InboundRecord,
  KafkaAdapter,
  OutboundRecord,
  PartitionBatch,
  TransactionalProducer,
} from '../../platform/kafka/adapter.ts';
import { kafkaUnreachable, recordBytes, rejoinNeeded } from '../../platform/kafka/adapter.ts';
import type { Logger } from '../../platform/logger.ts';
import type { StageMetrics } from '../../platform/metrics.ts';
import { ABORTED, backoffDelay, settledWithin, sleep, untilAborted } from '../../platform/retry.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import { topicName, type TopicKey } from '../../platform/topics.ts';
import type { Deferrals, Settled } from './deferral.ts';
import { recordSource, type Deferred, type Outcome, type RecordContext, type Stage } from './stage.ts';
import { RejoinedMeanwhile, SharedTransactions, StaleTransactionEpoch } from './shared-transactions.ts';
import { TransactionBatcher, type Committed, type PartitionLink } from './transactions.ts';

/** What one input record turned into, ready to go into the partition's next transaction. */
type Processed =
  | {
      kind: 'done';
      outputs: OutboundRecord[];
      value?: unknown;
      /** a deferred value written directly in this transaction, to mark released once it commits */
      passed?: string | null;
    }
  | { kind: 'stopped' };

/** What a transaction remembers of an input record for after its commit. */
interface Note {
  value: unknown;
  passed: string | null;
}

/** A record decoded ahead for the batch, with its first outcome and settled deferral when decided ahead. */
interface Prepared {
  value: unknown;
  first?: Outcome | Promise<Outcome>;
  settled?: Settled;
}

const HEARTBEAT_EVERY_MS = 3_000;
/** how long a partition whose verification could not reach Kafka waits before it is read again */
const VERIFY_AGAIN_AFTER_MS = 1_000;
/** how often, in records, the handling loop asks whether its batch went stale (a seek or a rebalance) */
const STALE_CHECK_EVERY = 32;
/** a record that produced nothing */
const NOTHING: Processed = { kind: 'done', outputs: [] };

/** The consumer group (and transactional-id part) of a stage in an environment. */
export const stageGroupId = (topicPrefix: string, stage: string) => `${topicPrefix}notifications.${stage}`;

/**
 * Runs one stage: consume → decode → handle → encode → produce → commit.
 *
 * Delivery guarantee: exactly once between stages. Every input partition has its own
 * transactional producer (transactional id = group + topic + partition), or, with
 * TRANSACTION_SCOPE=instance, all of the runner's partitions share one whose transactions carry
 * the commits of several partitions and are fenced by the group's generation (see
 * shared-transactions.ts); the outputs of a run of records, any dead letters, and the input
 * offsets are committed in one Kafka transaction.
 * Downstream consumers read committed records only. Before the first batch of a partition after
 * any (re)assignment or failure, the producer is (re)initialised, which fences a zombie holding
 * the same id and settles its open transaction, and the committed offset is read again: records
 * below it are skipped, so nothing is processed twice even if the consumer's own position was
 * stale.
 *
 * A batch's last transaction commits behind the next batch: the consumer's position moves on as
 * soon as the batch is handled, and the next batch of the partition is fetched and handled while
 * that transaction commits (one at a time per partition, in order). If a transaction fails, the
 * ones queued after it are dropped, the position goes back to its first record, and before the
 * partition's next batch the producer is re-initialised and the committed offset read.
 */
export class StageRunner {
  readonly groupId: string;
  private readonly log: Logger;
  private readonly handlerTimer: ReturnType<StageMetrics['handlerLatency']['labels']>;
  private readonly partitions = new Map<string, PartitionLink>();
  private readonly stop = new AbortController();
  /** the stage's `committed` steps still running (each follows a commit; close waits for them) */
  private readonly afterCommit = new Set<Promise<void>>();
  private consumer: ConsumerHandle | null = null;
  /** resolves `hasJoined`: when any consumer of this runner (a first one, or one that replaced it) joins */
  private markJoined: () => void = () => undefined;
  private readonly hasJoined = new Promise<void>((resolve) => (this.markJoined = resolve));
  private assigned: Record<string, number[]> = {};
  /** per input partition, the offset after the last one the consumer has passed (markers too) */
  private readonly passed = new Map<number, bigint>();
  /** the input partitions whose lag this instance reports (its assignment when last sampled) */
  private readonly lagReported = new Set<number>();
  private lagTimer: NodeJS.Timeout | null = null;
  private crashed: Error | null = null;
  /** when the consumer crashed for good, and when the last try to replace it ended (health) */
  private replacing = { since: 0, lastTry: 0 };
  /** records handled so far (progress, with the partitions' positions: see `sampleLag`) */
  private handledCount = 0;
  /** what progress looked like at the last lag sample, and since when it has looked so */
  private progress: { mark: string; since: number } | null = null;
  /** how long records have waited on this instance's partitions with no progress, at the last sample */
  private stalled: { ms: number; waiting: bigint } = { ms: 0, waiting: 0n };
  /** TRANSACTION_SCOPE=instance: one producer for all of this runner's partitions, its commits merged */
  private readonly shared: SharedTransactions | null;

  constructor(
    private readonly stage: Stage,
    private readonly deps: {
      kafka: KafkaAdapter;
      codec: AvroCodec;
      config: Config;
      logger: Logger;
      metrics: StageMetrics;
      /** the stage's deferrals (its schedule store), when it declares `defer` */
      deferrals?: Deferrals;
      /**
       * a lane of few, urgent records (a sender's instant lane): each fetch returns with the
       * first record, not after CONSUMER_FETCH_MAX_WAIT_MS, and an idle one waits longer
       */
      lane?: boolean;
    },
  ) {
    if (stage.defer && !deps.deferrals) throw new Error(`stage ${stage.name} defers: give its runner the deferrals`);
    this.groupId = stageGroupId(deps.config.TOPIC_PREFIX, stage.group ?? stage.name);
    this.log = deps.logger.child({ stage: stage.name });
    this.handlerTimer = deps.metrics.handlerLatency.labels({ stage: stage.name });
    const { config } = deps;
    this.shared =
      config.TRANSACTION_SCOPE === 'instance'
        ? new SharedTransactions({
            make: () =>
              deps.kafka.transactionalProducer(
                `${config.KAFKA_CLIENT_ID}:${this.groupId}:${config.INSTANCE_ID}`,
                config.TRANSACTION_TIMEOUT_MS,
              ),
            groupId: this.groupId,
            maxBytes: config.TRANSACTION_MAX_BYTES,
          })
        : null;
  }

  private topic(key: TopicKey): string {
    return topicName(this.deps.config.TOPIC_PREFIX, key);
  }

  async start(): Promise<void> {
    await this.deps.codec.register([this.stage.input, ...this.stage.outputs, 'deadLetter']);
    this.consumer = await this.newConsumer();
    this.lagTimer = setInterval(() => void this.sampleLag(), this.deps.config.LAG_SAMPLE_INTERVAL_MS);
    this.lagTimer.unref();
    this.log.info(
      { groupId: this.groupId, input: this.topic(this.stage.input), transactions: this.deps.config.TRANSACTION_SCOPE },
      'stage started',
    );
  }

  /**
   * The consumer lag of this instance's partitions, from the topic's end (read-committed, so an
   * open transaction's records do not count yet) and the later of the group's committed offset
   * and this consumer's position. On a timer, not after commits, so it rises while the stage is
   * stalled; the position counts the transaction markers the consumer has passed, which are
   * offsets but never records to handle. Partitions moved to another instance stop being
   * reported here (that instance reports them).
   */
  async sampleLag(): Promise<void> {
    const topic = this.topic(this.stage.input);
    const mine = this.stop.signal.aborted ? [] : (this.assigned[topic] ?? []);
    try {
      const [ends, committed] = await Promise.all([
        this.deps.kafka.topicEndOffsets(topic),
        mine.length === 0 ? new Map<number, bigint>() : this.deps.kafka.groupOffsets(this.groupId, topic),
      ]);
      // every instance reports the topic's partition count and how many it holds: a partition
      // no instance holds shows as max(partitions) > sum(assigned)
      this.deps.metrics.inputPartitions.set({ stage: this.stage.name, topic }, ends.size);
      this.deps.metrics.partitionsAssigned.set({ stage: this.stage.name, topic }, mine.length);
      for (const p of this.lagReported)
        if (!mine.includes(p)) {
          this.deps.metrics.lag.remove({ stage: this.stage.name, topic, partition: String(p) });
          this.lagReported.delete(p);
        }
      let waiting = 0n;
      const marks: string[] = [String(this.handledCount)];
      for (const p of mine) {
        const end = ends.get(p);
        if (end === undefined) continue;
        const c = committed.get(p) ?? -1n;
        const position = this.passed.get(p) ?? -1n;
        const at = c > position ? c : position;
        const lag = BigInt(end) - (at < 0n ? 0n : at);
        this.deps.metrics.lag.set({ stage: this.stage.name, topic, partition: String(p) }, Number(lag < 0n ? 0n : lag));
        this.lagReported.add(p);
        if (lag > 0n) waiting += lag;
        marks.push(`${p}:${c}:${position}`);
      }
      this.judgeProgress(marks.join(','), waiting);
    } catch (err) {
      // a cluster that does not answer now is asked again next time; the gauge keeps its value
      this.log.debug({ err }, 'consumer lag not sampled');
    }
  }

  /**
   * A stall: records waiting on this instance's partitions and, since an earlier sample, none
   * handled, passed or committed. Past STAGE_STALL_LIMIT_MS the instance is unhealthy (a client
   * or a commit stuck for good leaves nothing else to notice it by); any progress, or nothing
   * left waiting, ends it. Judged only on samples Kafka answered.
   */
  private judgeProgress(mark: string, waiting: bigint): void {
    const now = Date.now();
    if (waiting === 0n || this.progress?.mark !== mark) this.progress = { mark, since: now };
    const limit = this.deps.config.STAGE_STALL_LIMIT_MS;
    const was = this.stalled.ms;
    this.stalled = { ms: waiting === 0n ? 0 : now - this.progress.since, waiting };
    this.deps.metrics.stalled.set({ stage: this.stage.name }, this.stalled.ms / 1000);
    if (this.stalled.ms > limit && was <= limit)
      this.log.error(
        { stalledMs: this.stalled.ms, waiting: Number(waiting) },
        'records are waiting and none has been handled or committed: health fails until this stage makes progress',
      );
    else if (this.stalled.ms <= limit && was > limit) this.log.warn({ stalledMs: was }, 'progress again after a stall');
  }

  private newConsumer(): Promise<ConsumerHandle> {
    return this.deps.kafka.batchConsumer({
      groupId: this.groupId,
      topics: [this.topic(this.stage.input)],
      partitionsConcurrently: this.deps.config.PARTITIONS_CONCURRENTLY,
      sessionTimeoutMs: this.deps.config.CONSUMER_SESSION_TIMEOUT_MS,
      ...(this.deps.lane
        ? { fetchMinBytes: 1, fetchMaxWaitMs: this.deps.config.LANE_FETCH_MAX_WAIT_MS }
        : {
            fetchMinBytes: this.deps.config.CONSUMER_FETCH_MIN_BYTES,
            fetchMaxWaitMs: this.deps.config.CONSUMER_FETCH_MAX_WAIT_MS,
          }),
      ...(this.deps.config.CONSUMER_FETCH_IDLE_WAIT_MS > 0
        ? { fetchIdleWaitMs: this.deps.config.CONSUMER_FETCH_IDLE_WAIT_MS }
        : {}),
      onAssignment: (assignment, member) => {
        if (this.shared) this.shared.member = member;
        this.onAssignment(assignment);
      },
      onProgress: (partition, lastOffset) => this.passed.set(partition, BigInt(lastOffset) + 1n),
      onCrash: (err, restart) => {
        this.log.error({ err, restart }, 'consumer crashed');
        if (!restart) {
          // kafkajs gives up on an error it takes for non-retriable, such as "Failed to find
          // group coordinator" while a broker restarts: the stage would stay down for good.
          this.crashed = err;
          this.replacing = { since: Date.now(), lastTry: 0 };
          void this.replaceConsumer(1);
        }
      },
      eachBatch: (batch) => this.onBatch(batch),
    });
  }

  /**
   * A consumer kafkajs will not restart is replaced by a new one, after a backoff, until one
   * joins (every partition is verified again before it is processed, as after any rebalance).
   */
  private async replaceConsumer(attempt: number): Promise<void> {
    if (this.stop.signal.aborted) return;
    const old = this.consumer;
    this.consumer = null;
    await old?.stop().catch(() => undefined);
    for (const state of this.partitions.values()) {
      state.verified = false;
      state.generation++;
    }
    await sleep(backoffDelay(attempt, { initialMs: 1_000, maxMs: 30_000, factor: 2 }), this.stop.signal);
    if (this.stop.signal.aborted) return;
    try {
      const consumer = await this.newConsumer();
      if (this.stop.signal.aborted) {
        await consumer.stop().catch(() => undefined);
        return;
      }
      this.consumer = consumer;
      this.crashed = null;
      this.log.warn({ attempt }, 'consumer replaced after a crash kafkajs would not restart');
    } catch (err) {
      this.replacing.lastTry = Date.now();
      this.log.error({ err, attempt }, 'replacing the crashed consumer failed; trying again');
      void this.replaceConsumer(attempt + 1);
    }
  }

  /**
   * resolves once a consumer of this runner has joined its group: the first one, or the one that
   * replaced it after it crashed for good (awaiting the first one's join waited for ever then)
   */
  joined(): Promise<void> {
    return this.hasJoined;
  }

  /**
   * `waitingOn`: a dependency the process knows is down (its Redis not connected). A stall then
   * does not fail the health: a restart (the liveness probe's answer to a failed health) mends
   * nothing, and over a long outage Kubernetes' back-off after each one held the stage down
   * minutes after the dependency was back. The stall still shows (`error`, the gauge).
   *
   * `live`: the liveness's view. A consumer that crashed for good, while the runner's tries to
   * replace it keep ending (the last within STAGE_STALL_LIMIT_MS: Kafka refuses them), waits on
   * Kafka: a restart would do what the runner does, and over a long outage the back-off after
   * each restart held the stage down after Kafka was back. The readiness's view fails it.
   */
  health(
    waitingOn?: string,
    live = false,
  ): {
    stage: string;
    ok: boolean;
    assigned: Record<string, number[]>;
    error?: string;
    waitingOn?: string;
  } {
    const limit = this.deps.config.STAGE_STALL_LIMIT_MS;
    const stuck = this.stalled.ms > limit;
    const excused = stuck && waitingOn !== undefined;
    const { since, lastTry } = this.replacing;
    const replacing = live && this.crashed !== null && Date.now() - Math.max(since, lastTry) < limit;
    const ok =
      !this.stop.signal.aborted &&
      (replacing || (this.consumer !== null && this.crashed === null && (!stuck || excused)));
    return {
      stage: this.stage.name,
      ok,
      assigned: this.assigned,
      ...(replacing ? { waitingOn: 'kafka' } : excused ? { waitingOn } : {}),
      ...(this.crashed
        ? { error: this.crashed.message }
        : stuck
          ? {
              error: `${this.stalled.waiting} records waiting and none handled or committed for ${Math.round(this.stalled.ms / 1000)} s`,
            }
          : {}),
    };
  }

  /**
   * Graceful stop: no more fetching, the batch in hand finishes and commits, then all closes,
   * within `budgetMs`. Each wait is bounded: a partition still being verified is given up at
   * once, and a commit or a group leave that Kafka does not answer in time (a coordinator moving,
   * a rebalance waiting for a member that is itself stuck) is abandoned with a warning rather
   * than holding the process until it is killed. Abandoning loses nothing: an open transaction
   * is aborted when the partition's next owner fences this producer (or at its timeout), and
   * its records are handled again by that owner; the send ledger keeps a hand-off from repeating.
   */
  async close(budgetMs = this.deps.config.SHUTDOWN_TIMEOUT_MS): Promise<void> {
    if (this.stop.signal.aborted) return;
    this.stop.abort();
    if (this.lagTimer) clearInterval(this.lagTimer);
    const until = Date.now() + budgetMs;
    const left = () => until - Date.now();
    const tails = () => Promise.all([...this.partitions.values()].map((p) => p.tail));
    // commits still under way land before the group hands the partitions to someone else (half
    // the budget at most: leaving the group must have its turn)
    await this.waitInDrain(tails(), left() / 2, 'commits under way');
    await this.waitInDrain(this.consumer?.stop() ?? Promise.resolve(), left(), 'the consumer to leave its group');
    await this.waitInDrain(tails(), left(), 'commits under way');
    await this.waitInDrain(
      Promise.all([
        ...[...this.partitions.values()].map((p) => p.producer?.close().catch(() => undefined)),
        this.shared?.close(),
      ]),
      left(),
      'transactional producers to close',
    );
    await this.waitInDrain(Promise.all(this.afterCommit), left(), 'after-commit steps');
    this.partitions.clear();
    this.log.info('stage stopped');
  }

  private async waitInDrain(work: Promise<unknown>, ms: number, what: string): Promise<void> {
    if (!(await settledWithin(work, ms)))
      this.log.warn({ waitingFor: what }, 'drain gave up waiting; the next owner of these partitions settles them');
  }

  /** `step`'s value, or ABORTED as soon as the runner is closing (the step goes on, unawaited) */
  private untilStopped<T>(step: Promise<T>): Promise<T | typeof ABORTED> {
    return untilAborted(step, this.stop.signal);
  }

  private onAssignment(assignment: Record<string, number[]>): void {
    this.assigned = assignment;
    this.markJoined();
    // After any rebalance another member may have moved our partitions on: re-verify each one.
    for (const [key, state] of this.partitions) {
      state.verified = false;
      state.generation++;
      const [topic, partition] = splitKey(key);
      if (!(assignment[topic] ?? []).includes(partition)) {
        // a commit still under way either lands before the new owner fences this producer, or fails
        void state.tail.then(() => state.producer?.close()).catch(() => undefined);
        this.partitions.delete(key);
      }
    }
    this.log.info({ assignment }, 'partitions assigned');
  }

  /**
   * The partition's link, verified (its producer initialised, its committed offset read) when it
   * was not; null when the runner began closing meanwhile: nothing of the batch is handled (a
   * verification waits on Kafka, sometimes long while a coordinator moves, and a drain must not).
   */
  private async partition(batch: PartitionBatch): Promise<PartitionLink | null> {
    const key = `${batch.topic}:${batch.partition}`;
    let state = this.partitions.get(key);
    if (!state) {
      state = { producer: null, verified: false, tail: Promise.resolve(), generation: 0, floor: null };
      this.partitions.set(key, state);
    }
    // (a shared producer whose epoch ended, through another partition's failed transaction, is
    // replaced, and the partition verified again as after its own)
    if (state.verified && state.producer && (this.shared?.current(state.producer) ?? true)) return state;
    this.log.info(
      { topic: batch.topic, partition: batch.partition, records: batch.records.length },
      'verifying partition',
    );
    // The member keeps heartbeating while it waits: kafkajs heartbeated only between batches and
    // when asked (its patch now also on a timer, but only while its fetch loop has shown life
    // within the rebalance timeout), and a verification can outlast the session timeout (the
    // group then drops the member, and the rebalance that follows makes every member verify again).
    const beating = setInterval(() => void batch.heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
    try {
      // whatever is still committing settles first: the committed offset read below must be final
      if ((await this.untilStopped(state.tail)) === ABORTED) return null;
      const fresh = !state.producer;
      if (this.shared) {
        // the instance's producer, made and initialised once (not per partition)
        const made = await this.untilStopped(this.shared.ready());
        if (made === ABORTED) return null;
        state.producer = made;
      } else if (!state.producer) {
        const txId = `${this.deps.config.KAFKA_CLIENT_ID}:${this.groupId}:${batch.topic}:${batch.partition}`;
        const making = this.deps.kafka.transactionalProducer(txId, this.deps.config.TRANSACTION_TIMEOUT_MS);
        const made = await this.untilStopped(making);
        if (made === ABORTED) {
          // made after all: closed, as close() closes the others
          void making.then((p) => p.close()).catch(() => undefined);
          return null;
        }
        state.producer = made;
      }
      if ((await this.untilStopped(state.producer.init())) === ABORTED) return null;
      const committed = await this.untilStopped(
        this.deps.kafka.committedOffset(this.groupId, batch.topic, batch.partition),
      );
      if (committed === ABORTED) return null;
      this.log.info(
        { topic: batch.topic, partition: batch.partition, committed, firstOffset: batch.records[0]?.offset, fresh },
        'partition verified',
      );
      state.verified = true;
      state.floor = committed === null ? null : BigInt(committed);
      return state;
    } catch (err) {
      if (!kafkaUnreachable(err)) throw err;
      // A coordinator (the group's, for the committed offset, or the transaction's, for the
      // producer's epoch) on a broker not reached: the batch is left unhandled, read again and
      // verified again after a pause, the member staying in its group. (Thrown, it crashed the
      // consumer, which leaves its group: a rebalance of every member, seen in a chaos run.)
      this.log.warn(
        { topic: batch.topic, partition: batch.partition, reason: (err as Error).message },
        'partition not verified: Kafka not reached; trying again',
      );
      await sleep(VERIFY_AGAIN_AFTER_MS, this.stop.signal);
      return null;
    } finally {
      clearInterval(beating);
    }
  }

  /**
   * The batch's records from the partition's committed offset on: those below it were committed
   * by an earlier owner of the partition (read before its commit was visible) and are passed by.
   */
  private pastCommitted(state: PartitionLink, batch: PartitionBatch): InboundRecord[] {
    const records = batch.records;
    const floor = state.floor;
    if (floor === null) return records;
    let already = 0;
    while (already < records.length && BigInt(records[already]!.offset) < floor) already++;
    if (already > 0) {
      this.log.warn(
        { topic: batch.topic, partition: batch.partition, skipped: already, committed: floor.toString() },
        'skipping records committed by an earlier owner of this partition',
      );
      batch.resolveOffset(records[already - 1]!.offset);
    }
    // past it: nothing further can be below it (until the partition is verified again)
    if (records.length > already) state.floor = null;
    return already > 0 ? records.slice(already) : records;
  }

  /** The batch's transactions, on the partition's producer, in its generation. */
  private transactions(state: PartitionLink, batch: PartitionBatch): TransactionBatcher {
    return new TransactionBatcher(
      state,
      state.producer as TransactionalProducer,
      { groupId: this.groupId, topic: batch.topic, partition: batch.partition },
      batch,
      {
        maxRecords: this.deps.config.TRANSACTION_MAX_RECORDS,
        maxBytes: this.deps.config.TRANSACTION_MAX_BYTES,
        maxMs: this.deps.config.TRANSACTION_MAX_MS,
      },
      {
        failed: (err) =>
          // refused before it was sent (another partition's failed transaction, or a rejoin of
          // the group, TRANSACTION_SCOPE=instance): routine, the partition is verified again
          err instanceof StaleTransactionEpoch || err instanceof RejoinedMeanwhile
            ? this.log.info(
                { reason: err.message, topic: batch.topic, partition: batch.partition },
                'transaction failed',
              )
            : this.log.error({ err, topic: batch.topic, partition: batch.partition }, 'transaction failed'),
        committed: (c) => this.committed(c, batch),
      },
      state.generation,
    );
  }

  private async onBatch(batch: PartitionBatch): Promise<void> {
    const state = await this.partition(batch);
    if (!state) return;
    const records = this.pastCommitted(state, batch);
    const tx = this.transactions(state, batch);
    const flush = () => tx.flush();

    const prepared =
      (this.stage.prepare || this.decidesAhead) && records.length > 1 ? await this.prepare(records) : undefined;

    const width = Math.max(1, this.stage.concurrency ?? 1);
    // A sliding window over the batch: up to `width` records in `process` at once, none sharing
    // a key; results are taken in offset order, so outputs and offsets stay in partition order.
    const inflight: { record: InboundRecord; key: string | null; result: Processed | Promise<Processed> }[] = [];
    let next = 0;
    let halted = false;
    // The member heartbeats while the batch is handled, not only at its commits: a handler that
    // waits (a sender's outcome held through a Redis restart, a hand-over waiting out another
    // instance's claim) must not cost the member its place in the group, or the partition's next
    // owner handles the same records beside it. When a heartbeat says the partitions are being
    // given out again (or were), or none has gone through for half the session (the coordinator
    // unreachable: the group may drop the member meanwhile), the partition may be another's soon
    // or already: no further record of the batch is started; those under way finish, what was
    // handled commits (refused if the group moved on), and the rest is read again by whoever
    // holds the partition then. A broker's failure alone goes on. (kafkajs sends a heartbeat at
    // most every heartbeat interval; asked sooner, it answers at once.)
    let membership: unknown = null;
    let lastBeat = Date.now();
    const beating = setInterval(
      () =>
        void batch.heartbeat().then(
          () => void (lastBeat = Date.now()),
          (err: unknown) => {
            if (membership !== null) return;
            if (!rejoinNeeded(err) && Date.now() - lastBeat < this.deps.config.CONSUMER_SESSION_TIMEOUT_MS / 2) return;
            membership = err;
            this.log.info(
              { topic: batch.topic, partition: batch.partition, reason: (err as Error)?.message },
              'membership in doubt while handling a batch; starting no more of it',
            );
          },
        ),
      HEARTBEAT_EVERY_MS,
    );
    try {
      for (;;) {
        while (!halted && next < records.length && inflight.length < width) {
          // (whether the batch went stale is asked every few records: kafkajs builds a string each time)
          if (
            !batch.isRunning() ||
            membership !== null ||
            (next % STALE_CHECK_EVERY === 0 && batch.isStale()) ||
            this.stop.signal.aborted
          ) {
            halted = true;
            break;
          }
          const record = records[next]!;
          const key = width > 1 ? (record.key?.toString('latin1') ?? null) : null;
          if (key !== null && inflight.some((f) => f.key === key)) break;
          next++;
          const result = this.process(record, batch, flush, prepared?.get(record));
          // awaited below, in order; this only keeps a failure from being reported as unhandled
          if (isPromise(result)) result.catch(() => undefined);
          inflight.push({ record, key, result });
        }
        const head = inflight.shift();
        if (!head) break;
        const result = isPromise(head.result) ? await head.result : head.result;
        if (result.kind === 'stopped') {
          // The ones after it are handled again by whoever reads this partition next.
          await Promise.allSettled(inflight.map((f) => f.result));
          break;
        }
        const bytes = result.outputs.reduce((n, r) => n + recordBytes(r), 0);
        const note: Note | undefined = this.keepsNotes
          ? { value: this.stage.committed ? result.value : undefined, passed: result.passed ?? null }
          : undefined;
        const committing = tx.add(head.record.offset, result.outputs, bytes, note);
        if (committing) await committing;
      }
    } catch (err) {
      // A transaction failed (the partition goes back to its committed offset) or a record's
      // handling threw: the records still in their handlers finish first, so the replay that
      // follows finds what they did (a sender's outcome recorded in its ledger) rather than
      // their work still under way (which a sender must report failed, not knowing it).
      await Promise.allSettled(inflight.map((f) => f.result));
      throw err;
    } finally {
      clearInterval(beating);
    }
    // (counted once per batch: a counter's increment per record was a few per cent of a stage's time)
    if (next > 0) this.deps.metrics.consumed.inc({ stage: this.stage.name, topic: batch.topic }, next);
    if (batch.isStale()) {
      // nothing of it commits; if an earlier batch's commit behind it fails, the rewind covers it
      return;
    }
    const last = tx.lastOffset;
    if (this.stop.signal.aborted || last === null) {
      await heartbeating(batch, tx.flush());
      return;
    }
    // The position moves past this batch now, and its transaction commits behind the next one.
    // Only one waits at a time: the previous batch's commit must have succeeded first. The member
    // heartbeats meanwhile: a commit can wait out a transaction coordinator that hangs (its
    // request timeout, 30 s), past the session, and kafkajs heartbeated only between batches (the
    // group dropped the members so, in a chaos run that hung a broker; its patch's timer now
    // covers it too, up to the rebalance timeout).
    await heartbeating(batch, state.tail);
    if (!tx.current()) return;
    batch.resolveOffset(last);
    void tx.flush(true).catch(() => undefined);
  }

  /** whether a transaction keeps notes of its inputs (for the stage's after-commit step, or its deferrals) */
  private get keepsNotes(): boolean {
    return this.stage.committed !== undefined || this.deps.deferrals !== undefined;
  }

  /** After a commit: metrics and the stage's after-commit step (the lag is sampled on a timer). */
  private committed(c: Committed, batch: PartitionBatch): void {
    this.deps.metrics.transactionLatency.observe({ stage: this.stage.name }, c.seconds);
    const notes = c.values as Note[];
    // bookkeeping that follows the commit runs beside the partition's next transaction, not
    // before it (close waits for it)
    const after = (step: () => Promise<void>) => {
      const running = step().catch((err: unknown) => {
        this.log.warn({ err, topic: batch.topic, partition: batch.partition }, 'after-commit step failed');
      });
      this.afterCommit.add(running);
      void running.finally(() => this.afterCommit.delete(running));
    };
    if (this.stage.committed && notes.length > 0) {
      const values = notes.filter((n) => n.value !== undefined).map((n) => n.value);
      if (values.length > 0) after(() => this.stage.committed!(values as never[]));
    }
    const passed = this.deps.deferrals ? notes.flatMap((n) => (n.passed === null ? [] : [n.passed])) : [];
    if (passed.length > 0) after(() => this.deps.deferrals!.committed(passed));
    const perTopic = new Map<string, number>();
    for (const r of c.records) perTopic.set(r.topic, (perTopic.get(r.topic) ?? 0) + 1);
    for (const [topic, n] of perTopic) this.deps.metrics.produced.inc({ stage: this.stage.name, topic }, n);
  }

  /**
   * One record to its outputs. The common case (the writer's schema known, a handler that answers
   * at once with records or a skip) runs without a promise: at tens of thousands of records a
   * second, the promises and microtask hops of the general path were a tenth of a pass-through
   * stage's time. Anything else continues on `retrying`, which takes the first attempt's outcome
   * as it is, so a handler never runs twice for one attempt.
   */
  private process(
    record: InboundRecord,
    batch: PartitionBatch,
    flush: () => Promise<void>,
    prepared?: Prepared,
  ): Processed | Promise<Processed> {
    // a dead letter replayed for another stage of this topic: passed by, its offset committed
    if (this.replayedForAnother(record)) return NOTHING;
    let value: unknown = prepared?.value;
    let first: Outcome | Promise<Outcome>;
    try {
      value ??= this.deps.codec.decodeKnown(this.stage.input, record.value);
      if (value === undefined) return this.retrying(record, batch, flush);
      // decided ahead for the batch: the handler never runs twice for one attempt
      first = prepared?.first ?? this.handle(value, record, 1);
      if (!isPromise(first)) {
        if (first.kind === 'emit') return { kind: 'done', outputs: this.encode(first), value };
        if (first.kind === 'skip') return this.skipped(value);
        if (first.kind === 'defer' && prepared?.settled) return this.deferred(prepared.settled, value);
      }
    } catch (err) {
      first = outcomeOf(err);
    }
    return this.retrying(record, batch, flush, value, first);
  }

  /**
   * The general path: retriable failures are retried in place (capped backoff with jitter), after
   * the records before it are committed, so a long outage holds no transaction open; the
   * partition waits, later partitions keep flowing.
   */
  private async retrying(
    record: InboundRecord,
    batch: PartitionBatch,
    flush: () => Promise<void>,
    decoded?: unknown,
    firstOutcome?: Outcome | Promise<Outcome>,
  ): Promise<Processed> {
    const { config } = this.deps;
    let value: unknown = decoded;
    for (let attempt = 1; ; attempt++) {
      let outcome: Outcome;
      try {
        if (attempt === 1 && firstOutcome !== undefined) {
          outcome = await firstOutcome;
        } else {
          value ??= await this.deps.codec.decode(this.stage.input, record.value);
          outcome = await this.handle(value, record, attempt);
        }
        if (outcome.kind === 'emit') return { kind: 'done', outputs: this.encode(outcome), value };
        if (outcome.kind === 'defer') return this.deferred(await this.settle(outcome, record), value);
      } catch (err) {
        outcome = outcomeOf(err);
      }
      if (outcome.kind === 'skip') return this.skipped(value);
      if (outcome.kind === 'retry') {
        const budget = outcome.error.code === 'UNEXPECTED' ? config.UNEXPECTED_MAX_ATTEMPTS : config.RETRY_MAX_ATTEMPTS;
        if (budget > 0 && attempt >= budget) {
          const exhausted = permanent(
            outcome.error.code === 'UNEXPECTED' ? 'UNEXPECTED' : 'RETRIES_EXHAUSTED',
            `gave up after ${attempt} attempts: ${outcome.error.message}`,
          );
          return { kind: 'done', outputs: [await this.deadLetter(record, exhausted, attempt, value)] };
        }
        this.deps.metrics.retried.inc({ stage: this.stage.name, code: outcome.error.code });
        this.log.warn(
          {
            ...recordContext(record, value),
            attempt,
            code: outcome.error.code,
            reason: outcome.error.message,
          },
          'retrying record',
        );
        if (attempt === 1) await flush();
        const delay =
          outcome.afterMs ??
          backoffDelay(attempt, { initialMs: config.RETRY_INITIAL_MS, maxMs: config.RETRY_MAX_MS, factor: 2 });
        if (!(await this.wait(delay, batch))) return { kind: 'stopped' };
        continue;
      }
      let also: OutboundRecord[] = [];
      if (outcome.also?.length) {
        try {
          also = this.encode({ kind: 'emit', records: outcome.also });
        } catch (err) {
          // the dead letter goes out without the records that cannot be written
          this.log.error({ err }, 'records to emit with a dead letter cannot be encoded');
        }
      }
      return { kind: 'done', outputs: [await this.deadLetter(record, outcome.error, attempt, value), ...also] };
    }
  }

  /**
   * A record replayed from the dead-letter topic (`./dev dlq replay`) carries the stage it is for:
   * every other stage reading the topic passes it by, so a replay reaches only the stage that
   * dead-lettered it, never one that handled the original.
   */
  private replayedForAnother(record: InboundRecord): boolean {
    const target = record.headers[REPLAY_FOR_HEADER];
    return target !== undefined && target.toString('utf8') !== this.stage.name;
  }

  /** A skipped record: no outputs; its value is kept only for a stage's `committed`. */
  private skipped(value: unknown): Processed {
    return this.stage.committed ? { kind: 'done', outputs: [], value } : NOTHING;
  }

  /** whether the runtime decides a batch ahead and settles its deferrals together */
  private get decidesAhead(): boolean {
    return this.stage.pure === true && this.deps.deferrals !== undefined;
  }

  /**
   * Decodes the batch once for `prepare` and for the handlers (the same objects reach both). For
   * a pure deferring stage it also decides every record now and settles the batch's deferrals
   * together (`Deferrals.settleAll`); if that fails, each record settles its own as it is
   * handled.
   */
  private async prepare(records: InboundRecord[]): Promise<Map<InboundRecord, Prepared>> {
    const prepared = new Map<InboundRecord, Prepared>();
    const sources: string[] = [];
    for (const r of records) {
      if (this.replayedForAnother(r)) continue;
      try {
        prepared.set(r, { value: await this.deps.codec.decode(this.stage.input, r.value) });
        sources.push(recordSource(r));
      } catch {
        // undecodable: handled (dead-lettered) record by record
      }
    }
    if (this.stage.prepare) {
      try {
        await this.stage.prepare([...prepared.values()].map((p) => p.value) as never[], sources);
      } catch (err) {
        this.log.debug({ err }, 'batch preparation failed; records are handled one by one');
      }
    }
    if (this.decidesAhead) {
      const deferred: { p: Prepared; d: Deferred; source: string }[] = [];
      for (const [r, p] of prepared) {
        try {
          p.first = this.handle(p.value, r, 1);
        } catch (err) {
          p.first = outcomeOf(err);
        }
        if (!isPromise(p.first) && p.first.kind === 'defer') deferred.push({ p, d: p.first, source: recordSource(r) });
      }
      try {
        const settled = await this.deps.deferrals!.settleAll(deferred);
        deferred.forEach((x, i) => (x.p.settled = settled[i]));
      } catch (err) {
        this.log.debug({ err }, 'settling the batch deferrals failed; records settle one by one');
      }
    }
    return prepared;
  }

  private settle(d: Deferred, record: InboundRecord): Promise<Settled> {
    if (!this.deps.deferrals) throw permanent('UNEXPECTED', `stage ${this.stage.name} deferred but declares no defer`);
    return this.deps.deferrals.settle(d, recordSource(record));
  }

  /** A settled deferral: what it writes now, and the id to mark released after the commit. */
  private deferred(s: Settled, value: unknown): Processed {
    if (s.records.length === 0) return this.skipped(value);
    return { kind: 'done', outputs: this.encode({ kind: 'emit', records: s.records }), value, passed: s.passed };
  }

  /** Calls the stage's handler, timing it; a handler that answers at once is not made to wait. */
  private handle(value: unknown, record: InboundRecord, attempt: number): Outcome | Promise<Outcome> {
    const started = performance.now();
    let result: Outcome | Promise<Outcome>;
    try {
      result = this.stage.handle(value as never, new Context(record, attempt, this.log));
    } catch (err) {
      this.handled(started);
      throw err;
    }
    if (!isPromise(result)) {
      this.handled(started);
      return result;
    }
    return result.finally(() => this.handled(started));
  }

  private handled(started: number): void {
    this.handledCount++;
    this.handlerTimer.observe((performance.now() - started) / 1000);
  }

  /**
   * The outputs as records. They carry no provenance header: one more header per record cost
   * about a fifth of a pass-through stage's throughput in kafkajs's encoder, and a record's
   * origin is in its key (the order) and, for dead letters, in the letter itself.
   */
  private encode(outcome: Extract<Outcome, { kind: 'emit' }>): OutboundRecord[] {
    const out = this.encodeAll(outcome);
    const tooLarge = out.find((r) => recordBytes(r) > this.deps.config.MAX_RECORD_BYTES);
    if (tooLarge) {
      throw permanent(
        'ENCODE_FAILED',
        `output record for ${tooLarge.topic} is ${recordBytes(tooLarge)} bytes, over the ${this.deps.config.MAX_RECORD_BYTES}-byte limit`,
      );
    }
    return out;
  }

  private encodeAll(outcome: Extract<Outcome, { kind: 'emit' }>): OutboundRecord[] {
    const out: OutboundRecord[] = [];
    for (const e of outcome.records) {
      if (!this.stage.outputs.includes(e.topic)) {
        throw permanent('UNEXPECTED', `stage ${this.stage.name} emitted to ${e.topic}, which it does not declare`);
      }
      out.push({
        topic: this.topic(e.topic),
        key: e.key,
        value: this.deps.codec.encodeNow(e.topic, e.value as never),
        ...(e.headers ? { headers: e.headers } : {}),
      });
    }
    return out;
  }

  private async deadLetter(
    record: InboundRecord,
    error: PipelineError,
    attempts: number,
    decoded?: unknown,
  ): Promise<OutboundRecord> {
    this.deps.metrics.deadLettered.inc({ stage: this.stage.name, code: error.code });
    this.log.error(
      {
        ...recordContext(record, decoded),
        code: error.code,
        reason: error.message,
      },
      'record dead-lettered',
    );
    const headers: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(record.headers)) if (v) headers[k] = v;
    const value = await this.deps.codec.encode('deadLetter', {
      stage: this.stage.name,
      errorCode: error.code,
      reason: error.message,
      attempts,
      originalTopic: record.topic,
      originalPartition: record.partition,
      originalOffset: Number(record.offset),
      originalTimestamp: Number(record.timestamp),
      originalKey: record.key,
      originalValue: record.value,
      originalHeaders: headers,
      failedAt: Date.now(),
    });
    return { topic: this.topic('deadLetter'), key: record.key, value };
  }

  /**
   * waits `ms`, heartbeating; false if the stage is stopping or the batch went stale. A heartbeat
   * that fails for the coordinator or its broker (lost, moved: looked up again) does not end the
   * wait; one that says the member must rejoin ends the batch, as it did before.
   */
  private async wait(ms: number, batch: PartitionBatch): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (!(await sleep(Math.min(HEARTBEAT_EVERY_MS, until - Date.now()), this.stop.signal))) return false;
      if (!batch.isRunning() || batch.isStale()) return false;
      await batch.heartbeat().catch((err: unknown) => {
        if (rejoinNeeded(err)) throw err;
      });
    }
    return true;
  }
}

/** `waiting`, the member heartbeating every HEARTBEAT_EVERY_MS until it settles */
async function heartbeating<T>(batch: PartitionBatch, waiting: Promise<T>): Promise<T> {
  const beating = setInterval(() => void batch.heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
  try {
    return await waiting;
  } finally {
    clearInterval(beating);
  }
}

function isPromise<T>(x: T | Promise<T>): x is Promise<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/** What a thrown error means for the record: retry it if the error says so, else dead-letter it. */
function outcomeOf(err: unknown): Extract<Outcome, { kind: 'retry' | 'dead' }> {
  const error = classify(err);
  return error.retriable ? { kind: 'retry', error } : { kind: 'dead', error };
}

/** A record's context for its handler; the child logger is made only if the handler asks for it. */
class Context implements RecordContext {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly timestamp: number;
  readonly headers: Record<string, Buffer | undefined>;
  private child: Logger | null = null;

  constructor(
    record: InboundRecord,
    readonly attempt: number,
    private readonly stageLog: Logger,
  ) {
    this.topic = record.topic;
    this.partition = record.partition;
    this.offset = record.offset;
    this.key = record.key?.toString('utf8') ?? null;
    this.timestamp = Number(record.timestamp);
    this.headers = record.headers;
  }

  get logger(): Logger {
    return (this.child ??= this.stageLog.child({
      topic: this.topic,
      partition: this.partition,
      offset: this.offset,
      key: this.key,
    }));
  }
}

/** bytes a record takes on the wire, near enough (value, key, header names and values) */

function splitKey(key: string): [string, number] {
  const i = key.lastIndexOf(':');
  return [key.slice(0, i), Number(key.slice(i + 1))];
}

/**
 * Where a record is, and whose it is, for a log line about it: topic, partition, offset, key,
 * and the order and notification ids its value carries (once decoded), so one order's path can
 * be followed across stages with a grep. Personal data in any of them (a direct producer's key
 * may be an address) is masked by the logger.
 */
export function recordContext(record: InboundRecord, value?: unknown): Record<string, unknown> {
  const ids = (typeof value === 'object' && value !== null ? value : {}) as {
    orderId?: unknown;
    notificationId?: unknown;
  };
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key: record.key?.toString('utf8') ?? null,
    ...(typeof ids.orderId === 'string' ? { orderId: ids.orderId } : {}),
    ...(typeof ids.notificationId === 'string' ? { notificationId: ids.notificationId } : {}),
  };
}
