import type { Redis } from 'ioredis';
import { inRedis } from './client.ts';
import { defineScripts } from './lua.ts';

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
export interface DueItem {
  id: string;
  dueAt: number;
  payload: Buffer;
}

export type CancelResult = 'cancelled' | 'cancelled-before-scheduled' | 'already-cancelled' | 'in-flight' | 'released';
export type ScheduleResult = 'scheduled' | 'rescheduled' | 'in-flight' | 'final';
/** `pass`: claimed for this record; `again`: this record had claimed it (its transaction did not commit) */
export type PassResult = 'pass' | 'again' | 'in-flight' | 'final';

/** items per run of the pass script (`passMany`) */
const PASS_PER_RUN = 256;

const SCRIPTS = {
  scheduleItem: 'schedule/schedule-item.lua',
  claimDue: 'schedule/claim-due.lua',
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
} as const;

type ScriptedRedis = ReturnType<typeof defineScripts<keyof typeof SCRIPTS>> & {
  claimDueBuffer: (...args: (string | number)[]) => Promise<Buffer[]>;
};

export class ScheduleStore {
  private readonly redis: ScriptedRedis;
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
  };

  constructor(redis: Redis, prefix: string) {
    this.redis = defineScripts(redis, SCRIPTS) as ScriptedRedis;
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
    };
  }

  /** Adds or moves an item; an item already released or cancelled, or in flight, is left alone. */
  async schedule(id: string, dueAt: number, payload: Buffer): Promise<ScheduleResult> {
    const { due, leased, items, final, passing } = this.k;
    // Redis unreachable or failing: the caller's record waits and is retried, never dropped.
    return (await inRedis('schedule store', () =>
      this.redis.scheduleItem(due, leased, items, final, passing, id, dueAt, payload),
    )) as ScheduleResult;
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

  /** Returns items whose lease ran out at `now` to the schedule; resolves with how many. */
  async requeueExpired(now: number, limit = 1000): Promise<number> {
    const { due, leased, dueAt } = this.k;
    return Number(await this.redis.requeueExpired(due, leased, dueAt, now, limit));
  }

  /**
   * Marks items as released (published); resolves with how many were still leased. With a
   * `leaderToken`, only the leader may (a releaser that lost the leadership changes nothing).
   */
  async ack(ids: string[], now: number, leaderToken = ''): Promise<number> {
    if (ids.length === 0) return 0;
    const { due, leased, items, dueAt, final, outcome, leader } = this.k;
    return Number(
      await this.redis.ackReleased(due, leased, items, dueAt, final, outcome, leader, leaderToken, now, ...ids),
    );
  }

  /** Puts leased items back in the schedule at their due time; resolves with how many were leased. */
  async requeue(ids: string[], leaderToken = ''): Promise<number> {
    if (ids.length === 0) return 0;
    return Number(
      await this.redis.requeueIds(this.k.due, this.k.leased, this.k.dueAt, this.k.leader, leaderToken, ...ids),
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

  async cancel(id: string, now: number): Promise<CancelResult> {
    const { due, leased, items, final, outcome, passing } = this.k;
    return (await inRedis('schedule store', () =>
      this.redis.cancelItem(due, leased, items, final, outcome, passing, now, id),
    )) as CancelResult;
  }

  /**
   * Records that an item was released or cancelled elsewhere (as the topics show when the
   * schedule is rebuilt): it leaves the schedule if it waits there, and is never scheduled again.
   * One a releaser holds in flight is left to that releaser.
   */
  async settle(id: string, outcome: 'released' | 'cancelled', now: number): Promise<'settled' | 'final' | 'in-flight'> {
    const { due, items, dueAt, final, outcome: outcomes, leased, passing } = this.k;
    return (await inRedis('schedule store', () =>
      this.redis.settleItem(due, items, dueAt, final, outcomes, leased, passing, now, id, outcome),
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
      const args: (string | number | Buffer)[] = [due, leased, items, dueAt, final, passing, passedBy, now];
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
    const [waiting, leased, passing, final] = await Promise.all([
      this.redis.zcard(this.k.due),
      this.redis.zcard(this.k.leased),
      this.redis.zcard(this.k.passing),
      this.redis.zcard(this.k.final),
    ]);
    return { waiting, leased, passing, final };
  }

  /**
   * What the schedule holds for its releaser at `now`: items waiting for their time, items due
   * but not claimed yet, items leased by a releaser (being published), and items a stage claimed
   * to pass on directly.
   */
  async backlog(now: number): Promise<{ waiting: number; due: number; leased: number; passing: number }> {
    const [waiting, due, leased, passing] = await inRedis('schedule', () =>
      Promise.all([
        this.redis.zcount(this.k.due, `(${now}`, '+inf'),
        this.redis.zcount(this.k.due, '-inf', now),
        this.redis.zcard(this.k.leased),
        this.redis.zcard(this.k.passing),
      ]),
    );
    return { waiting, due, leased, passing };
  }

  /** The earliest due time waiting, or null: lets a releaser sleep until then. */
  async nextDue(): Promise<number | null> {
    const first = await this.redis.zrange(this.k.due, 0, 0, 'WITHSCORES');
    return first.length === 2 ? Number(first[1]) : null;
  }
}
