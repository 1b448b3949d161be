import type { Redis } from 'ioredis';
import { inRedis } from './client.ts';
import { defineScripts } from './lua.ts';
import type { ReplicaWait } from './replica-wait.ts';

/**
 * A durable schedule in Redis: items (opaque payloads, e.g. an order's Avro bytes) wait until
 * their due time; releasers claim due items atomically under a lease, publish them, then
 * acknowledge them. An item claimed by a releaser that dies is claimable again once its lease
 * runs out, so a crash between claim and publish loses nothing.
 *
 * Keys under `prefix`:
 *   due       ZSET  id → due time (ms)
 *   leased    ZSET  id → lease expiry (ms)
 *   items     HASH  id → payload
 *   dueAt     HASH  id → due time of a leased item (restored when its lease runs out)
 *   final     ZSET  id → when it was released or cancelled (ms); kept for `finalRetentionMs`
 *   outcome   HASH  id → "released" | "cancelled"
 *   passing   ZSET  id → when a stage claimed it to publish at once (ms)
 *   passedBy  HASH  id → the input record (topic:partition:offset) whose transaction publishes it
 *   lanes     HASH  id → "<lane>:<cost>" of an item in a gated lane (kept while it is leased)
 *   announce  ZSET  id → when a cancellation's announcement was kept (or last claimed), ms
 *   announcements HASH id → that announcement (what its canceller publishes of it), until published
 *   gated:<lane> ZSET id → due time, per gated lane (`GATED_LANES`)
 * An id that reached `final` is never scheduled again, so replaying the topic the schedule was
 * built from cannot release anything twice.
 *
 * Passing directly: an item due already when its stage reads it need not wait for a releaser.
 * The stage claims it (`pass`) for its input record, publishes it in the transaction that
 * commits that record's offset, and marks it released (`passed`) once that commits. If the
 * transaction does not commit, the record is read again and the same record may claim it again;
 * any other record finds it in flight. If the stage never comes back, or a commit's `passed` is
 * lost, a releaser reconciles the claim once it is older than the stage's transaction timeout
 * can be (`abandonedPassing`), as it does its own leases.
 */
/**
 * Gated lanes: an item scheduled in a lane (with a cost) waits there instead of in `due`, and a
 * releaser takes a lane's due items only as far as its budget goes (`claimGated`), e.g. orders
 * paced by the fair share, by how much its channel's senders have still to send. Everything else
 * (cancel, settle, requeue, pass, the one-release guarantee) is the same for them.
 */
export const GATED_LANES = ['email', 'sms'] as const;
export type GatedLane = (typeof GATED_LANES)[number];

export interface DueItem {
  id: string;
  dueAt: number;
  payload: Buffer;
  /** the gated lane it was claimed from (`claimGated`) */
  lane?: GatedLane;
}

export type CancelResult = 'cancelled' | 'cancelled-before-scheduled' | 'already-cancelled' | 'in-flight' | 'released';
export type ScheduleResult = 'scheduled' | 'rescheduled' | 'in-flight' | 'final';
/** `pass`: claimed for this record; `again`: this record had claimed it (its transaction did not commit) */
export type PassResult = 'pass' | 'again' | 'in-flight' | 'final';

/**
 * What a canceller publishes of a cancellation (its order's Order_Cancelled status event, say):
 * a record of one of the pipeline's topics (by its key in `topics.ts`), already encoded.
 */
export interface Announcement {
  topic: string;
  key: string;
  value: Buffer;
}

const announcementText = (a: Announcement) => JSON.stringify({ t: a.topic, k: a.key, v: a.value.toString('base64') });

function announcementOf(text: string): Announcement {
  const { t, k, v } = JSON.parse(text) as { t: string; k: string; v: string };
  return { topic: t, key: k, value: Buffer.from(v, 'base64') };
}

/** items per run of the pass script (`passMany`) */
const PASS_PER_RUN = 256;

const SCRIPTS = {
  scheduleItem: 'schedule/schedule-item.lua',
  claimDue: 'schedule/claim-due.lua',
  claimGated: 'schedule/claim-gated.lua',
  requeueExpired: 'schedule/requeue-expired.lua',
  ackReleased: 'schedule/ack-released.lua',
  cancelItem: 'schedule/cancel-item.lua',
  requeueIds: 'schedule/requeue-ids.lua',
  settleItem: 'schedule/settle-item.lua',
  passItems: 'schedule/pass-items.lua',
  ackPassed: 'schedule/ack-passed.lua',
  requeuePassing: 'schedule/requeue-passing.lua',
  holdLeadership: 'schedule/hold-leadership.lua',
  dropLeadership: 'schedule/drop-leadership.lua',
  trimFinal: 'schedule/trim-final.lua',
  claimAnnouncements: 'schedule/claim-announcements.lua',
} as const;

type ScriptedRedis = ReturnType<typeof defineScripts<keyof typeof SCRIPTS>> & {
  claimDueBuffer: (...args: (string | number)[]) => Promise<Buffer[]>;
  claimGatedBuffer: (...args: (string | number)[]) => Promise<Buffer[]>;
};

export class ScheduleStore {
  private readonly redis: ScriptedRedis;
  /**
   * where items are scheduled: with `replicas`, its connection (a WAIT covers only its own
   * connection's writes, and holds it while it waits)
   */
  private readonly writes: ScriptedRedis;
  private readonly k: {
    due: string;
    leased: string;
    items: string;
    dueAt: string;
    final: string;
    outcome: string;
    leader: string;
    passing: string;
    passedBy: string;
    lanes: string;
    gated: Record<GatedLane, string>;
    announce: string;
    announcements: string;
  };

  constructor(
    redis: Redis,
    prefix: string,
    /**
     * with REDIS_WAIT_REPLICAS: `schedule` and `cancel` resolve once Redis's replicas hold the
     * item or its cancellation, so a failover to one of them cannot lose an item whose record was
     * committed since, nor bring back one the gateway answered cancelled
     */
    private readonly replicas?: ReplicaWait,
  ) {
    this.redis = defineScripts(redis, SCRIPTS) as ScriptedRedis;
    this.writes = replicas ? (defineScripts(replicas.connection, SCRIPTS) as ScriptedRedis) : this.redis;
    // One hash tag keeps every key of a schedule in one Redis Cluster slot, as the scripts need.
    const p = `${prefix}{schedule}:`;
    this.k = {
      due: `${p}due`,
      leased: `${p}leased`,
      items: `${p}items`,
      dueAt: `${p}dueAt`,
      final: `${p}final`,
      outcome: `${p}outcome`,
      leader: `${p}leader`,
      passing: `${p}passing`,
      passedBy: `${p}passedBy`,
      lanes: `${p}lanes`,
      gated: { email: `${p}gated:email`, sms: `${p}gated:sms` },
      announce: `${p}announce`,
      announcements: `${p}announcements`,
    };
  }

  /** the lane hash and the gated lanes' keys, in the order the scripts take them */
  private get laneKeys(): string[] {
    return [this.k.lanes, ...GATED_LANES.map((l) => this.k.gated[l])];
  }

  /**
   * Adds or moves an item, in `lane` (with its cost there) or not; an item already released or
   * cancelled, or in flight, is left alone.
   */
  async schedule(
    id: string,
    dueAt: number,
    payload: Buffer,
    lane?: { name: GatedLane; cost: number },
  ): Promise<ScheduleResult> {
    const { due, leased, items, final, passing } = this.k;
    const laneNo = lane ? GATED_LANES.indexOf(lane.name) + 1 : 0;
    const cost = lane ? Math.max(1, Math.round(lane.cost)) : 0;
    // Redis unreachable or failing: the caller's record waits and is retried, never dropped.
    const result = (await inRedis('schedule store', () =>
      this.writes.scheduleItem(due, leased, items, final, passing, ...this.laneKeys, id, dueAt, payload, laneNo, cost),
    )) as ScheduleResult;
    // (too few replicas in time: the record is tried again, and schedules the item again)
    if (this.replicas) await this.replicas.hold('the item');
    return result;
  }

  /**
   * Atomically takes up to `limit` items due at `now`, leasing them until `now + leaseMs`. With
   * a `leaderToken`, only the holder of the leadership may claim (else it rejects NOT_LEADER).
   */
  async claim(now: number, limit: number, leaseMs: number, leaderToken = ''): Promise<DueItem[]> {
    const { due, leased, items, dueAt, leader } = this.k;
    const flat = await this.redis.claimDueBuffer(
      due,
      leased,
      items,
      dueAt,
      leader,
      now,
      limit,
      now + leaseMs,
      leaderToken,
    );
    const out: DueItem[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      out.push({ id: flat[i]!.toString(), dueAt: Number(flat[i + 1]!.toString()), payload: flat[i + 2]! });
    }
    return out;
  }

  /**
   * Like `claim`, from a gated lane: its due items in due order while their costs fit in
   * `budget` (the first always), at most `limit`. Resolves with the items and the cost claimed.
   */
  async claimGated(
    lane: GatedLane,
    now: number,
    budget: number,
    limit: number,
    leaseMs: number,
    leaderToken = '',
  ): Promise<{ items: DueItem[]; cost: number }> {
    const { leased, items, dueAt, leader, lanes } = this.k;
    const flat = await this.redis.claimGatedBuffer(
      this.k.gated[lane],
      leased,
      items,
      dueAt,
      leader,
      lanes,
      now,
      budget,
      limit,
      now + leaseMs,
      leaderToken,
    );
    const out: DueItem[] = [];
    for (let i = 1; i < flat.length; i += 3) {
      out.push({ id: flat[i]!.toString(), dueAt: Number(flat[i + 1]!.toString()), payload: flat[i + 2]!, lane });
    }
    return { items: out, cost: Number(flat[0]!.toString()) };
  }

  /** Returns items whose lease ran out at `now` to the schedule (or their lane); resolves with how many. */
  async requeueExpired(now: number, limit = 1000): Promise<number> {
    const { due, leased, dueAt } = this.k;
    return Number(await this.redis.requeueExpired(due, leased, dueAt, ...this.laneKeys, now, limit));
  }

  /**
   * Marks items as released (published); resolves with how many were still leased. With a
   * `leaderToken`, only the leader may (a releaser that lost the leadership changes nothing).
   */
  async ack(ids: string[], now: number, leaderToken = ''): Promise<number> {
    if (ids.length === 0) return 0;
    const { due, leased, items, dueAt, final, outcome, leader } = this.k;
    return Number(
      await this.redis.ackReleased(
        due,
        leased,
        items,
        dueAt,
        final,
        outcome,
        leader,
        ...this.laneKeys,
        leaderToken,
        now,
        ...ids,
      ),
    );
  }

  /** Puts leased items back in the schedule at their due time; resolves with how many were leased. */
  async requeue(ids: string[], leaderToken = ''): Promise<number> {
    if (ids.length === 0) return 0;
    return Number(
      await this.redis.requeueIds(
        this.k.due,
        this.k.leased,
        this.k.dueAt,
        this.k.leader,
        ...this.laneKeys,
        leaderToken,
        ...ids,
      ),
    );
  }

  /** Leased items with their lease expiry, oldest first. */
  async leasedItems(limit = 10_000): Promise<{ id: string; leaseUntil: number }[]> {
    const flat = await this.redis.zrange(this.k.leased, 0, limit - 1, 'WITHSCORES');
    const out: { id: string; leaseUntil: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, leaseUntil: Number(flat[i + 1]) });
    return out;
  }

  /** Takes or extends the releaser leadership for `ttlMs`; true while `token` holds it. */
  async holdLeadership(token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.redis.holdLeadership(this.k.leader, token, ttlMs)) === 1;
  }

  async dropLeadership(token: string): Promise<void> {
    await this.redis.dropLeadership(this.k.leader, token);
  }

  /**
   * Cancels an item: it leaves the schedule and is never scheduled again, unless it is in flight
   * or released already. With `replicas`, resolves once they hold the cancellation (else
   * rejects, retriable): one lost at a failover would bring the item back, and the order it
   * holds would be sent after the caller was told it was cancelled.
   *
   * With an `announcement` (what the caller publishes of it once this resolves), a cancellation
   * made (or found made) keeps it until the caller calls `announced`: a caller that dies, or is
   * refused by the wait, before it has published leaves it for the releaser's leader to publish
   * (`claimAnnouncements`), so the order is not shown waiting for ever.
   */
  async cancel(id: string, now: number, announcement?: Announcement): Promise<CancelResult> {
    const { due, leased, items, final, outcome, passing, announce, announcements } = this.k;
    const text = announcement ? announcementText(announcement) : '';
    const result = (await inRedis('schedule store', () =>
      this.writes.cancelItem(
        due,
        leased,
        items,
        final,
        outcome,
        passing,
        ...this.laneKeys,
        announce,
        announcements,
        now,
        id,
        text,
      ),
    )) as CancelResult;
    if (
      this.replicas &&
      (result === 'cancelled' || result === 'cancelled-before-scheduled' || result === 'already-cancelled')
    )
      await this.replicas.hold('the cancellation');
    return result;
  }

  /** Forgets the announcements of these cancellations: they are published. */
  async announced(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await inRedis('schedule store', () =>
      this.redis
        .multi()
        .zrem(this.k.announce, ...ids)
        .hdel(this.k.announcements, ...ids)
        .exec(),
    );
  }

  /**
   * The leader's claim (by its `leaderToken`) on the announcements kept at `olderThan` or before
   * that their cancellers did not say they published: each is kept again from `now`, so one
   * whose publishing fails is claimed again later. With `replicas`, resolves once they hold the
   * claim, hence every write before it, the cancellations among them: an announcement is never
   * published of a cancellation a failover could still lose.
   */
  async claimAnnouncements(
    olderThan: number,
    now: number,
    leaderToken: string,
    limit = 500,
  ): Promise<{ id: string; announcement: Announcement }[]> {
    const flat = (await inRedis('schedule store', () =>
      this.writes.claimAnnouncements(
        this.k.announce,
        this.k.announcements,
        this.k.leader,
        leaderToken,
        olderThan,
        now,
        limit,
      ),
    )) as string[];
    if (flat.length > 0 && this.replicas) await this.replicas.hold('the cancellations to announce');
    const out: { id: string; announcement: Announcement }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, announcement: announcementOf(flat[i + 1]!) });
    return out;
  }

  /**
   * Records that an item was released or cancelled elsewhere (as the topics show when the
   * schedule is rebuilt): it leaves the schedule if it waits there, and is never scheduled again.
   * One a releaser holds in flight is left to that releaser.
   */
  async settle(id: string, outcome: 'released' | 'cancelled', now: number): Promise<'settled' | 'final' | 'in-flight'> {
    const { due, items, dueAt, final, outcome: outcomes, leased, passing } = this.k;
    return (await inRedis('schedule store', () =>
      this.redis.settleItem(due, items, dueAt, final, outcomes, leased, passing, ...this.laneKeys, now, id, outcome),
    )) as 'settled' | 'final' | 'in-flight';
  }

  /**
   * Claims an item that is due already for the input record `source` (topic:partition:offset),
   * which publishes it in its own transaction: 'pass' or 'again' (this same record claimed it
   * before and its transaction did not commit) mean publish it; 'in-flight' and 'final' mean
   * someone else does or did. The payload is kept, so a releaser can publish it if the stage never
   * does. Call `passed` once the transaction has committed.
   */
  async pass(id: string, dueAt: number, payload: Buffer, source: string, now: number): Promise<PassResult> {
    const [result] = await this.passMany([{ id, dueAt, payload, source }], now);
    return result!;
  }

  /**
   * `pass` for many items, a few hundred per script run: one round trip instead of one per item,
   * and Redis busy for a few milliseconds at most per run. Results are in the items' order.
   */
  async passMany(
    list: readonly { id: string; dueAt: number; payload: Buffer; source: string }[],
    now: number,
  ): Promise<PassResult[]> {
    const { due, leased, items, dueAt, final, passing, passedBy } = this.k;
    const runs: Promise<PassResult[]>[] = [];
    for (let i = 0; i < list.length; i += PASS_PER_RUN) {
      const args: (string | number | Buffer)[] = [
        due,
        leased,
        items,
        dueAt,
        final,
        passing,
        passedBy,
        ...this.laneKeys,
        now,
      ];
      for (const item of list.slice(i, i + PASS_PER_RUN)) args.push(item.id, item.dueAt, item.payload, item.source);
      runs.push(this.redis.passItems(...args) as Promise<PassResult[]>);
    }
    return (await inRedis('schedule store', () => Promise.all(runs))).flat();
  }

  /** Marks items passed directly as released (their transaction committed); resolves with how many were passing. */
  async passed(ids: string[], now: number): Promise<number> {
    if (ids.length === 0) return 0;
    const { passing, passedBy, items, dueAt, final, outcome } = this.k;
    return Number(await this.redis.ackPassed(passing, passedBy, items, dueAt, final, outcome, now, ...ids));
  }

  /** Direct claims made before `olderThan`, oldest first: their stage's transaction is long over. */
  async abandonedPassing(olderThan: number, limit = 10_000): Promise<{ id: string; claimedAt: number }[]> {
    const flat = await this.redis.zrangebyscore(
      this.k.passing,
      '-inf',
      `(${olderThan}`,
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const out: { id: string; claimedAt: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, claimedAt: Number(flat[i + 1]) });
    return out;
  }

  /** Puts direct claims made before `olderThan` in the schedule at their due time, for a releaser to publish. */
  async requeuePassing(ids: string[], olderThan: number, leaderToken = ''): Promise<number> {
    if (ids.length === 0) return 0;
    const { passing, passedBy, due, dueAt, leader } = this.k;
    return Number(
      await this.redis.requeuePassing(passing, passedBy, due, dueAt, leader, leaderToken, olderThan, ...ids),
    );
  }

  /** Forgets final markers older than `olderThan` (keep them as long as the source topic's retention). */
  async trimFinal(olderThan: number, limit = 10_000): Promise<number> {
    return Number(await this.redis.trimFinal(this.k.final, this.k.outcome, olderThan, limit));
  }

  /** Items waiting, leased by a releaser, claimed by a stage to pass directly, and final. */
  async counts(): Promise<{ waiting: number; leased: number; passing: number; final: number }> {
    const [waiting, leased, passing, final, ...gated] = await Promise.all([
      this.redis.zcard(this.k.due),
      this.redis.zcard(this.k.leased),
      this.redis.zcard(this.k.passing),
      this.redis.zcard(this.k.final),
      ...GATED_LANES.map((l) => this.redis.zcard(this.k.gated[l])),
    ]);
    return { waiting: waiting + gated.reduce((a, b) => a + b, 0), leased, passing, final };
  }

  /**
   * What the schedule holds for its releaser at `now`: items waiting for their time, items due
   * but not claimed yet, items leased by a releaser (being published), and items a stage claimed
   * to pass on directly; items in gated lanes count as waiting or due, and `gated` counts those
   * due (they wait for their lane's budget).
   */
  async backlog(
    now: number,
  ): Promise<{ waiting: number; due: number; leased: number; passing: number; gated: number }> {
    const zsets = [this.k.due, ...GATED_LANES.map((l) => this.k.gated[l])];
    const [counts, leased, passing] = await inRedis('schedule', () =>
      Promise.all([
        Promise.all(
          zsets.map((z) => Promise.all([this.redis.zcount(z, `(${now}`, '+inf'), this.redis.zcount(z, '-inf', now)])),
        ),
        this.redis.zcard(this.k.leased),
        this.redis.zcard(this.k.passing),
      ]),
    );
    const sum = (i: 0 | 1, from = 0) => counts.slice(from).reduce((a, c) => a + c[i], 0);
    return { waiting: sum(0), due: sum(1), leased, passing, gated: sum(1, 1) };
  }

  /** The earliest due time waiting outside the gated lanes, or null: lets a releaser sleep until then. */
  async nextDue(): Promise<number | null> {
    const first = await this.redis.zrange(this.k.due, 0, 0, 'WITHSCORES');
    return first.length === 2 ? Number(first[1]) : null;
  }

  /** The earliest due time waiting in a gated lane, or null. */
  async nextGatedDue(lane: GatedLane): Promise<number | null> {
    const first = await this.redis.zrange(this.k.gated[lane], 0, 0, 'WITHSCORES');
    return first.length === 2 ? Number(first[1]) : null;
  }
}
