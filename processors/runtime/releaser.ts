import { randomUUID } from 'node:crypto';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { releaserMetrics } from '../../platform/metrics.ts';
import type { KafkaAdapter, OutboundRecord, TransactionalProducer } from '../../platform/kafka/adapter.ts';
import type { Logger } from '../../platform/logger.ts';
import { backoffDelay, sleep } from '../../platform/retry.ts';
import { GATED_LANES, type DueItem, type GatedLane, type ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import { topicName, type TopicKey, type TopicValues } from '../../platform/topics.ts';
import { heldValues, type HeldValues } from './deferral.ts';

/**
 * How much of a gated lane may be released now (`ScheduleStore.claimGated`), in the lane's cost
 * units; told what was taken. A lane without a gate is released as it falls due.
 */
export interface ReleaseGate {
  budget(now: number): number;
  spent(cost: number): void;
}

/** how often a releaser looks again at a gated lane whose due items its gate holds back, ms */
const GATE_POLL_MS = 100;

export interface ReleaserOptions {
  /** names the releaser's transactional id and metrics label (e.g. "scheduler") */
  name: string;
  /** where released items go; each item's payload is that topic's value as JSON */
  output: TopicKey;
  /** the Kafka key of a released value (default: the item's id) */
  keyOf?: (value: TopicValues[TopicKey], id: string) => string;
  /** records to write with each released value, in the same transaction (e.g. a status event) */
  alsoEmit?: (
    value: TopicValues[TopicKey],
    now: number,
  ) => { topic: TopicKey; key: string; value: TopicValues[TopicKey] }[];
  /** how long a claimed item is held before it counts as abandoned, ms */
  leaseMs: number;
  /** most items published in one transaction */
  batchSize: number;
  /**
   * transactions under way at once (1 … MAX_RELEASE_LANES), each from its own transactional
   * producer: the next batch is claimed and encoded while earlier ones commit
   */
  lanes?: number;
  /** longest sleep between looks at the schedule, ms (bounds release lateness) */
  pollMs: number;
  /** how long the leadership lasts unless renewed, ms */
  leaderTtlMs: number;
  /**
   * when a stage's direct claim (`ScheduleStore.pass`) counts as abandoned, ms: longer than the
   * stage's Kafka transaction can stay open, so its transaction has committed or been aborted
   * by then
   */
  passLeaseMs: number;
  /**
   * how long the store remembers released and cancelled items, ms: the leader drops older final
   * markers every few minutes (unset: kept for ever)
   */
  finalRetentionMs?: number;
  /** the gates of the store's gated lanes (`ScheduleStore.schedule` with a lane); a lane without one is released as it falls due */
  gates?: Partial<Record<GatedLane, ReleaseGate>>;
  /**
   * how long a cancellation's announcement is left to its canceller before the leader publishes
   * it (`ScheduleStore.claimAnnouncements`), ms (default ANNOUNCE_AFTER_MS)
   */
  announceAfterMs?: number;
}

/**
 * How long a canceller (the gateway) has to publish its cancellation's announcement before the
 * leader does: longer than a cancel request can take (its replicas' wait and its publish), so the
 * leader publishes only those whose canceller died or gave up, and rarely one a slow canceller
 * then publishes too (a second Order_Cancelled changes nothing a reader sees).
 */
export const ANNOUNCE_AFTER_MS = 60_000;

/** how often the leader looks for announcements left to it, ms (at most) */
const ANNOUNCE_EVERY_MS = 10_000;

/** how often the leader samples its schedule's backlog for the metrics */
const BACKLOG_SAMPLE_MS = 15_000;

/** how often the leader trims final markers */
const TRIM_EVERY_MS = 5 * 60 * 1000;

const SCHEDULE_ID_HEADER = 'x-schedule-id';

/**
 * A new leader fences this many transactional ids whatever its own lane count, so a previous
 * leader configured with more lanes cannot commit a release after the takeover.
 */
export const MAX_RELEASE_LANES = 8;

interface Lane {
  producer: TransactionalProducer;
  /** the batch this lane is publishing, settled (never rejected) when it is done */
  busy: Promise<void> | null;
}

/**
 * Publishes due items from a schedule store to their topic (orders to orders.due for the
 * scheduler, held SMS to sms.queue for the send window), exactly once.
 *
 * One releaser leads at a time (a Redis lock with a token; claims, acks and re-queues are
 * refused to anyone else). It claims due items, publishes them in a Kafka transaction under a
 * fixed transactional id, then acknowledges them in Redis. A new leader first initialises that
 * transactional id, which fences the previous leader and settles its open transaction, then
 * reconciles every item still leased: those already on orders.due (read committed, from their
 * claim time) are acknowledged, the rest go back to the schedule. The same happens after any
 * failed publish. So a crash anywhere between claim and acknowledgement neither loses nor
 * duplicates a release.
 *
 * Releases run in `lanes`: each lane is a transactional producer of its own (fixed ids, all
 * fenced by a new leader), and while some lanes commit, the loop claims and hands out the next
 * batch. A lane that fails stops the loop: every lane is let finish, every producer is dropped,
 * and the leader re-verifies all leased items as after a takeover.
 */
export class Releaser {
  private readonly token = randomUUID();
  /** the held values' form in the store (framed Avro of the output topic, or JSON as held before) */
  private readonly held: HeldValues;
  private readonly stop = new AbortController();
  private lanes: Lane[] = [];
  /** the first error of a lane, raised by the loop */
  private laneFailure: unknown = null;
  private leading = false;
  private inflight = new Set<string>();
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private lastReconcile = 0;
  private lastTrim = 0;
  private lastAnnounce = 0;
  private readonly log: Logger;
  private readonly released: Counter<'releaser' | 'outcome'>;
  private readonly lateness: Histogram<'releaser'>;
  private readonly backlog: Gauge<'releaser' | 'state'>;
  private lastBacklog = 0;

  constructor(
    private readonly deps: {
      store: ScheduleStore;
      kafka: KafkaAdapter;
      codec: AvroCodec;
      topicPrefix: string;
      clientId: string;
      logger: Logger;
      registry: Registry;
      clock: () => number;
    },
    private readonly opts: ReleaserOptions,
  ) {
    this.log = deps.logger.child({ component: 'releaser', releaser: opts.name });
    this.held = heldValues(deps.codec, opts.output);
    // Several releasers may share a process (and its registry): the metrics exist once.
    ({ released: this.released, lateness: this.lateness, backlog: this.backlog } = releaserMetrics(deps.registry));
  }

  /** The schedule's backlog, every BACKLOG_SAMPLE_MS, by the leader only (so a sum is right). */
  private async sampleBacklog(now: number): Promise<void> {
    if (now - this.lastBacklog < BACKLOG_SAMPLE_MS) return;
    this.lastBacklog = now;
    const b = await this.deps.store.backlog(now);
    for (const [state, n] of Object.entries(b)) this.backlog.set({ releaser: this.opts.name, state }, n);
  }

  private dropBacklog(): void {
    for (const state of ['waiting', 'due', 'leased', 'passing', 'gated'])
      this.backlog.remove({ releaser: this.opts.name, state });
    this.lastBacklog = 0;
  }

  private get dueTopic(): string {
    return topicName(this.deps.topicPrefix, this.opts.output);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Look at the schedule now (something became due). */
  wake(): void {
    this.wakeUp?.();
  }

  health() {
    return { component: `${this.opts.name}-releaser`, ok: !this.stop.signal.aborted, leading: this.leading };
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.wake();
    await this.loop;
    await this.resetProducers();
    if (this.leading) await this.deps.store.dropLeadership(this.token).catch(() => undefined);
    this.leading = false;
    this.dropBacklog();
  }

  /** Sleeps `ms`, or less if woken or closed. */
  private async idle(ms: number): Promise<void> {
    if (ms <= 0 || this.stop.signal.aborted) return;
    const woken = new AbortController();
    this.wakeUp = () => woken.abort();
    await sleep(ms, AbortSignal.any([this.stop.signal, woken.signal]));
    this.wakeUp = null;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stop.signal.aborted) {
      try {
        if (!(await this.lead())) {
          this.dropBacklog();
          await this.idle(this.opts.leaderTtlMs / 3);
          continue;
        }
        const lane = await this.freeLane();
        this.raiseLaneFailure();
        const now = this.deps.clock();
        if (now - this.lastReconcile >= this.opts.leaseMs) await this.reconcileAbandoned(now);
        if (now - this.lastAnnounce >= Math.min(ANNOUNCE_EVERY_MS, this.opts.announceAfterMs ?? ANNOUNCE_AFTER_MS)) {
          this.lastAnnounce = now;
          await this.announceLeftCancellations(lane.producer, now);
        }
        await this.sampleBacklog(now);
        if (this.opts.finalRetentionMs !== undefined && now - this.lastTrim >= TRIM_EVERY_MS) {
          this.lastTrim = now;
          const trimmed = await this.deps.store.trimFinal(now - this.opts.finalRetentionMs);
          if (trimmed > 0) this.log.info({ trimmed }, 'final markers past their retention dropped');
        }
        const batch = await this.deps.store.claim(now, this.opts.batchSize, this.opts.leaseMs, this.token);
        const held = await this.claimGated(batch, now);
        if (batch.length === 0) {
          const next = await this.nextDue(now, held);
          const wait = next === null ? this.opts.pollMs : Math.min(this.opts.pollMs, Math.max(0, next - now));
          await this.idle(wait);
        } else {
          for (const item of batch) this.inflight.add(item.id);
          lane.busy = this.publish(lane.producer, batch)
            .then(() => void (failures = 0))
            .catch((err: unknown) => void (this.laneFailure ??= err))
            .finally(() => {
              lane.busy = null;
              this.wake();
            });
        }
      } catch (err) {
        failures++;
        this.log.error({ err, failures }, 'release step failed; will re-verify before releasing again');
        await this.resetProducers();
        await this.idle(backoffDelay(failures, { initialMs: 200, maxMs: 10_000, factor: 2 }));
      }
    }
  }

  /**
   * Adds to `batch` the gated lanes' due items, as far as each lane's gate allows (all of them
   * without a gate) and the batch has room. Resolves with the lanes whose gate held due items back.
   */
  private async claimGated(batch: DueItem[], now: number): Promise<Set<GatedLane>> {
    const held = new Set<GatedLane>();
    for (const lane of GATED_LANES) {
      const room = this.opts.batchSize - batch.length;
      if (room <= 0) return held;
      const gate = this.opts.gates?.[lane];
      const budget = gate ? gate.budget(now) : Number.MAX_SAFE_INTEGER;
      if (budget <= 0) {
        if (((await this.deps.store.nextGatedDue(lane)) ?? Infinity) <= now) held.add(lane);
        continue;
      }
      const { items, cost } = await this.deps.store.claimGated(lane, now, budget, room, this.opts.leaseMs, this.token);
      gate?.spent(cost);
      batch.push(...items);
    }
    return held;
  }

  /**
   * When to look again: the next due item, in `due` or a gated lane; a lane whose gate holds due
   * items back, in GATE_POLL_MS.
   */
  private async nextDue(now: number, held: Set<GatedLane>): Promise<number | null> {
    const times = await Promise.all([
      this.deps.store.nextDue(),
      ...GATED_LANES.map((l) => (held.has(l) ? now + GATE_POLL_MS : this.deps.store.nextGatedDue(l))),
    ]);
    const next = Math.min(...times.map((t) => t ?? Infinity));
    return next === Infinity ? null : next;
  }

  /** Holds (or takes) the leadership; on taking it, fences the last leader and reconciles. */
  private async lead(): Promise<boolean> {
    const holds = await this.deps.store.holdLeadership(this.token, this.opts.leaderTtlMs);
    if (!holds) {
      if (this.leading) this.log.warn('lost the releaser leadership');
      await this.resetProducers();
      return false;
    }
    if (this.leading && this.lanes.length > 0) return true;
    // Every id a leader may use is initialised, which fences its previous holder and settles its
    // open transaction; this leader keeps the first `lanes` of them.
    const count = Math.min(MAX_RELEASE_LANES, Math.max(1, this.opts.lanes ?? 1));
    const base = `${this.deps.clientId}:${this.deps.topicPrefix}${this.opts.name}-releaser`;
    const producers: TransactionalProducer[] = [];
    // (the term is renewed while it fences: see renewingLeadership)
    const started = await this.renewingLeadership(() =>
      Promise.allSettled(
        Array.from({ length: MAX_RELEASE_LANES }, async (_, i) => {
          const producer = await this.deps.kafka.transactionalProducer(i === 0 ? base : `${base}-${i}`);
          producers.push(producer);
          await producer.init();
          return producer;
        }),
      ),
    );
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(producers.map((p) => p.close().catch(() => undefined)));
      throw failed.reason;
    }
    await Promise.all(producers.slice(count).map((p) => p.close().catch(() => undefined)));
    this.lanes = producers.slice(0, count).map((producer) => ({ producer, busy: null }));
    this.laneFailure = null;
    this.inflight.clear();
    // Fencing every id can outlast the leadership term (on a replicated cluster, eight
    // InitProducerId calls take seconds; an open transaction of the last leader is settled
    // first): the term was renewed while it fenced; make sure it still holds before acting as
    // leader, and again after the reconciliation, which reads the output topic.
    await this.renew();
    const leased = await this.deps.store.leasedItems();
    await this.reconcile(leased.map((l) => ({ id: l.id, claimedAt: l.leaseUntil - this.opts.leaseMs })));
    await this.renew();
    this.leading = true;
    this.lastReconcile = this.deps.clock();
    this.log.info({ reconciled: leased.length }, 'leading the releaser');
    return true;
  }

  /**
   * Runs `work` while renewing the leadership every third of its term: the steps of a leader
   * that wait on Kafka (fencing the last leader's transactional ids, the reconciliation's read)
   * can outlast the term, and a rival must not take it from a leader that is only waiting. A
   * renewal that finds it taken (or fails) changes nothing here: the caller's `renew` afterwards
   * finds out and stops.
   */
  private async renewingLeadership<T>(work: () => Promise<T>): Promise<T> {
    const every = Math.max(100, Math.floor(this.opts.leaderTtlMs / 3));
    const timer = setInterval(() => {
      this.deps.store.holdLeadership(this.token, this.opts.leaderTtlMs).catch(() => undefined);
    }, every);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  /** Renews the leadership; if another releaser took it meanwhile, stops leading (throws). */
  private async renew(): Promise<void> {
    if (!(await this.deps.store.holdLeadership(this.token, this.opts.leaderTtlMs))) {
      await this.resetProducers();
      throw new Error('lost the releaser leadership while taking it');
    }
  }

  /** A lane with no batch in hand, once there is one. */
  private async freeLane(): Promise<Lane> {
    for (;;) {
      if (this.lanes.length === 0) throw new Error('not leading: no release lanes');
      const free = this.lanes.find((l) => l.busy === null);
      if (free) return free;
      await Promise.race(this.lanes.map((l) => l.busy));
    }
  }

  private raiseLaneFailure(): void {
    if (this.laneFailure !== null) throw this.laneFailure;
  }

  /** Lets every lane finish its batch, then drops the producers: the next leading re-verifies. */
  private async resetProducers(): Promise<void> {
    const lanes = this.lanes;
    this.lanes = [];
    this.leading = false;
    await Promise.all(lanes.map((l) => l.busy));
    await Promise.all(lanes.map((l) => l.producer.close().catch(() => undefined)));
  }

  private async publish(producer: TransactionalProducer, batch: DueItem[]): Promise<void> {
    const records: OutboundRecord[] = [];
    for (const item of batch) {
      try {
        const value = (await this.held.decode(item.payload)) as TopicValues[TopicKey];
        records.push({
          topic: this.dueTopic,
          key: this.opts.keyOf ? this.opts.keyOf(value, item.id) : item.id,
          value: await this.deps.codec.encode(this.opts.output, value),
          // reconciliation finds a release by this header, whatever the record's key
          headers: { [SCHEDULE_ID_HEADER]: item.id },
        });
        for (const extra of this.opts.alsoEmit?.(value, this.deps.clock()) ?? []) {
          records.push({
            topic: topicName(this.deps.topicPrefix, extra.topic),
            key: extra.key,
            value: await this.deps.codec.encode(extra.topic, extra.value),
          });
        }
      } catch (err) {
        // A payload that is no longer an order cannot be released; keep it, with why, for replay.
        this.log.error({ id: item.id, err }, `scheduled item is not a valid ${this.opts.output} record; dead-lettered`);
        const value = await this.deps.codec.encode('deadLetter', {
          stage: `${this.opts.name}-releaser`,
          errorCode: 'DECODE_FAILED',
          reason: `scheduled payload is not a valid ${this.opts.output} record: ${(err as Error).message}`,
          attempts: 1,
          originalTopic: 'schedule-store',
          originalPartition: -1,
          originalOffset: -1,
          originalTimestamp: item.dueAt,
          originalKey: Buffer.from(item.id),
          originalValue: item.payload,
          originalHeaders: {},
          failedAt: this.deps.clock(),
        });
        records.push({ topic: topicName(this.deps.topicPrefix, 'deadLetter'), key: item.id, value });
      }
    }
    await producer.commit(records);
    const now = this.deps.clock();
    // (an item of a gated lane is late by design while its gate holds it: not counted)
    for (const item of batch)
      if (!item.lane) this.lateness.observe({ releaser: this.opts.name }, Math.max(0, now - item.dueAt) / 1000);
    this.released.inc({ releaser: this.opts.name, outcome: 'published' }, batch.length);
    await this.deps.store.ack(
      batch.map((b) => b.id),
      now,
      this.token,
    );
    for (const item of batch) this.inflight.delete(item.id);
  }

  /**
   * Publishes the announcements of cancellations whose canceller did not say it published them
   * in time (it died, its publish failed, or its replicas' wait refused the cancellation), in one
   * transaction, then forgets them. A failure here is logged and tried again at the next look: it
   * does not hold up the releases.
   */
  private async announceLeftCancellations(producer: TransactionalProducer, now: number): Promise<void> {
    try {
      const left = await this.deps.store.claimAnnouncements(
        now - (this.opts.announceAfterMs ?? ANNOUNCE_AFTER_MS),
        now,
        this.token,
      );
      if (left.length === 0) return;
      await producer.commit(
        left.map(({ announcement: a }) => ({
          topic: topicName(this.deps.topicPrefix, a.topic as TopicKey),
          key: a.key,
          value: a.value,
        })),
      );
      await this.deps.store.announced(left.map((l) => l.id));
      this.released.inc({ releaser: this.opts.name, outcome: 'announced' }, left.length);
      this.log.warn({ announced: left.length }, 'published cancellations their canceller left unannounced');
    } catch (err) {
      this.log.error({ err }, 'publishing cancellations left unannounced failed; will try again');
    }
  }

  /**
   * Leases that outlived their term and are not this releaser's own work in hand; and direct
   * claims of a stage that never marked them released (it died, or its mark was lost).
   */
  private async reconcileAbandoned(now: number): Promise<void> {
    const leaseMs = this.opts.leaseMs;
    const stale = (await this.deps.store.leasedItems()).filter((l) => l.leaseUntil < now && !this.inflight.has(l.id));
    await this.reconcile(stale.map((l) => ({ id: l.id, claimedAt: l.leaseUntil - leaseMs })));
    const olderThan = now - this.opts.passLeaseMs;
    await this.reconcile(await this.deps.store.abandonedPassing(olderThan), olderThan);
    this.lastReconcile = now;
  }

  /**
   * Acknowledges the items that are on the output topic and puts the rest back in the schedule:
   * leased items, or with `passedBefore`, a stage's direct claims made before then (one claimed
   * again since is left to its stage).
   */
  private async reconcile(items: { id: string; claimedAt: number }[], passedBefore?: number): Promise<void> {
    if (items.length === 0) return;
    const claimedFrom = Math.min(...items.map((i) => i.claimedAt));
    const wanted = new Set(items.map((i) => i.id));
    const published = new Set<string>();
    // Records carry their producer's timestamp; allow for clock skew between hosts. The read
    // waits out any transaction still open on the topic (up to the transaction timeout, and the
    // broker's next look), which can outlast the leadership term: the term is renewed while it
    // reads, so a rival does not take over a leader that is only waiting, fence it and start the
    // same read over. Whether it still leads is checked again before it acts on what it read.
    await this.renewingLeadership(() =>
      this.deps.kafka.readSince(this.dueTopic, claimedFrom - 60_000, (r) => {
        const key = r.headers[SCHEDULE_ID_HEADER]?.toString() ?? r.key?.toString();
        if (key && wanted.has(key)) published.add(key);
      }),
    );
    await this.renew();
    const toAck = [...wanted].filter((id) => published.has(id));
    const toRequeue = [...wanted].filter((id) => !published.has(id));
    if (passedBefore === undefined) {
      await this.deps.store.ack(toAck, this.deps.clock(), this.token);
      await this.deps.store.requeue(toRequeue, this.token);
    } else {
      await this.deps.store.passed(toAck, this.deps.clock());
      await this.deps.store.requeuePassing(toRequeue, passedBefore, this.token);
    }
    this.released.inc({ releaser: this.opts.name, outcome: 'reconciled' }, toAck.length);
    this.log.warn(
      { published: toAck.length, requeued: toRequeue.length, ...(passedBefore === undefined ? {} : { direct: true }) },
      'reconciled abandoned releases',
    );
  }
}
