import type { Redis } from 'ioredis';
import { retriable } from '../errors.ts';

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

/**
 * The first line of a script that only the releaser holding the leadership may run: KEYS[key]
 * holds the leader's token, ARGV[arg] the caller's ('' for a caller that needs no leadership).
 */
const leaderCheck = (key: number, arg: number) =>
  `if ARGV[${arg}] ~= '' and redis.call('GET', KEYS[${key}]) ~= ARGV[${arg}] then return redis.error_reply('NOT_LEADER') end`;

/**
 * Script lines that make `id` final: its payload and due time dropped, recorded in `final` at
 * `at` with its `outcome` (KEYS indices and Lua expressions given).
 */
const finalize = (
  k: { items: number; dueAt: number; final: number; outcome: number },
  id: string,
  at: string,
  outcome: string,
) =>
  [
    `redis.call('HDEL', KEYS[${k.items}], ${id})`,
    `redis.call('HDEL', KEYS[${k.dueAt}], ${id})`,
    `redis.call('ZADD', KEYS[${k.final}], ${at}, ${id})`,
    `redis.call('HSET', KEYS[${k.outcome}], ${id}, ${outcome})`,
  ].join('\n');

const SCRIPTS = {
  // KEYS: due leased items final passing ; ARGV: id dueAt payload
  scheduleItem: {
    numberOfKeys: 5,
    lua: `
      if redis.call('ZSCORE', KEYS[4], ARGV[1]) then return 'final' end
      if redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('ZSCORE', KEYS[5], ARGV[1]) then return 'in-flight' end
      local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
      redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
      if added == 1 then return 'scheduled' end
      return 'rescheduled'`,
  },
  // KEYS: due leased items dueAt leader ; ARGV: now limit leaseUntil token ('' = no leader check)
  claimDue: {
    numberOfKeys: 5,
    lua: `
      ${leaderCheck(5, 4)}
      local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
      local out = {}
      for i = 1, #ids, 2 do
        local id, due = ids[i], ids[i + 1]
        redis.call('ZREM', KEYS[1], id)
        redis.call('ZADD', KEYS[2], ARGV[3], id)
        redis.call('HSET', KEYS[4], id, due)
        out[#out + 1] = id
        out[#out + 1] = due
        out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
      end
      return out`,
  },
  // KEYS: due leased dueAt ; ARGV: now limit
  requeueExpired: {
    numberOfKeys: 3,
    lua: `
      local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
      for _, id in ipairs(ids) do
        redis.call('ZREM', KEYS[2], id)
        redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[3], id) or ARGV[1], id)
        redis.call('HDEL', KEYS[3], id)
      end
      return #ids`,
  },
  // KEYS: due leased items dueAt final outcome leader ; ARGV: token now id...
  ackReleased: {
    numberOfKeys: 7,
    lua: `
      ${leaderCheck(7, 1)}
      local n = 0
      for i = 3, #ARGV do
        local id = ARGV[i]
        redis.call('ZREM', KEYS[1], id)
        n = n + redis.call('ZREM', KEYS[2], id)
        ${finalize({ items: 3, dueAt: 4, final: 5, outcome: 6 }, 'id', 'ARGV[2]', "'released'")}
      end
      return n`,
  },
  // KEYS: due leased items final outcome passing ; ARGV: now id
  cancelItem: {
    numberOfKeys: 6,
    lua: `
      local state = redis.call('HGET', KEYS[5], ARGV[2])
      if state == 'cancelled' then return 'already-cancelled' end
      if state == 'released' then return 'released' end
      if redis.call('ZSCORE', KEYS[2], ARGV[2]) or redis.call('ZSCORE', KEYS[6], ARGV[2]) then return 'in-flight' end
      if redis.call('ZREM', KEYS[1], ARGV[2]) == 1 then
        redis.call('HDEL', KEYS[3], ARGV[2])
        redis.call('ZADD', KEYS[4], ARGV[1], ARGV[2])
        redis.call('HSET', KEYS[5], ARGV[2], 'cancelled')
        return 'cancelled'
      end
      -- Not scheduled yet (its order record is still on the way): a tombstone keeps it from ever
      -- being scheduled.
      redis.call('ZADD', KEYS[4], ARGV[1], ARGV[2])
      redis.call('HSET', KEYS[5], ARGV[2], 'cancelled')
      return 'cancelled-before-scheduled'`,
  },
  // KEYS: due leased dueAt leader ; ARGV: token id...
  requeueIds: {
    numberOfKeys: 4,
    lua: `
      ${leaderCheck(4, 1)}
      local n = 0
      for i = 2, #ARGV do
        local id = ARGV[i]
        if redis.call('ZREM', KEYS[2], id) == 1 then
          redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[3], id) or 0, id)
          redis.call('HDEL', KEYS[3], id)
          n = n + 1
        end
      end
      return n`,
  },
  // KEYS: due items dueAt final outcome leased passing ; ARGV: now id outcome
  settleItem: {
    numberOfKeys: 7,
    lua: `
      if redis.call('ZSCORE', KEYS[4], ARGV[2]) then return 'final' end
      if redis.call('ZSCORE', KEYS[6], ARGV[2]) or redis.call('ZSCORE', KEYS[7], ARGV[2]) then return 'in-flight' end
      redis.call('ZREM', KEYS[1], ARGV[2])
      ${finalize({ items: 2, dueAt: 3, final: 4, outcome: 5 }, 'ARGV[2]', 'ARGV[1]', 'ARGV[3]')}
      return 'settled'`,
  },
  // KEYS: due leased items dueAt final passing passedBy ; ARGV: now, then (id dueAt payload source)…
  // One result per item, in order ('final', 'in-flight', 'again' or 'pass').
  passItems: {
    numberOfKeys: 7,
    lua: `
      local out = {}
      for i = 2, #ARGV, 4 do
        local id, dueAt, payload, source = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
        local result
        if redis.call('ZSCORE', KEYS[5], id) then
          result = 'final'
        elseif redis.call('ZSCORE', KEYS[2], id) then
          result = 'in-flight'
        else
          local by = redis.call('HGET', KEYS[7], id)
          if by and by ~= source then
            result = 'in-flight'
          else
            redis.call('ZREM', KEYS[1], id)
            redis.call('ZADD', KEYS[6], ARGV[1], id)
            redis.call('HSET', KEYS[7], id, source)
            redis.call('HSET', KEYS[3], id, payload)
            redis.call('HSET', KEYS[4], id, dueAt)
            result = by and 'again' or 'pass'
          end
        end
        out[#out + 1] = result
      end
      return out`,
  },
  // KEYS: passing passedBy items dueAt final outcome ; ARGV: now id...
  ackPassed: {
    numberOfKeys: 6,
    lua: `
      local n = 0
      for i = 2, #ARGV do
        local id = ARGV[i]
        if redis.call('ZREM', KEYS[1], id) == 1 then
          redis.call('HDEL', KEYS[2], id)
          ${finalize({ items: 3, dueAt: 4, final: 5, outcome: 6 }, 'id', 'ARGV[1]', "'released'")}
          n = n + 1
        end
      end
      return n`,
  },
  // KEYS: passing passedBy due dueAt leader ; ARGV: token olderThan id...
  // Only claims still older than olderThan: a stage that claimed one again meanwhile keeps it.
  requeuePassing: {
    numberOfKeys: 5,
    lua: `
      ${leaderCheck(5, 1)}
      local n = 0
      for i = 3, #ARGV do
        local id = ARGV[i]
        local at = redis.call('ZSCORE', KEYS[1], id)
        if at and tonumber(at) < tonumber(ARGV[2]) then
          redis.call('ZREM', KEYS[1], id)
          redis.call('HDEL', KEYS[2], id)
          redis.call('ZADD', KEYS[3], redis.call('HGET', KEYS[4], id) or 0, id)
          redis.call('HDEL', KEYS[4], id)
          n = n + 1
        end
      end
      return n`,
  },
  // KEYS: leader ; ARGV: token ttlMs — take the lock if free, or extend it if ours
  holdLeadership: {
    numberOfKeys: 1,
    lua: `
      local holder = redis.call('GET', KEYS[1])
      if holder == false or holder == ARGV[1] then
        redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
        return 1
      end
      return 0`,
  },
  // KEYS: leader ; ARGV: token
  dropLeadership: {
    numberOfKeys: 1,
    lua: `
      if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
      return 0`,
  },
  // KEYS: final outcome ; ARGV: olderThan limit
  trimFinal: {
    numberOfKeys: 2,
    lua: `
      local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
      for _, id in ipairs(ids) do
        redis.call('ZREM', KEYS[1], id)
        redis.call('HDEL', KEYS[2], id)
      end
      return #ids`,
  },
} as const;

/** Whether a claim to pass an item on lets the caller publish it. */
export const mayPublish = (result: PassResult) => result === 'pass' || result === 'again';

/**
 * The values a stage passes on itself (its claims that `mayPublish`), to be marked released
 * once the transaction that publishes them has committed: call `committed` from the stage's
 * `committed` hook with the values that transaction took.
 */
export class PassedOn<V extends object> {
  private readonly values = new WeakSet<V>();
  /** claims made for a batch ahead of its handling (`claimAll`), until `claimed` takes them */
  private readonly claims = new WeakMap<V, PassResult>();

  constructor(
    private readonly store: ScheduleStore,
    private readonly idOf: (value: V) => string,
    private readonly clock: () => number,
  ) {}

  /** Claims a batch's due values in a few script runs (`passMany`), for `claimed` to answer. */
  async claimAll(list: readonly { value: V; dueAt: number; payload: Buffer; source: string }[], now: number) {
    const results = await this.store.passMany(
      list.map((x) => ({ id: this.idOf(x.value), dueAt: x.dueAt, payload: x.payload, source: x.source })),
      now,
    );
    list.forEach((x, i) => this.claims.set(x.value, results[i]!));
  }

  /** The claim `claimAll` made for this value (once), or undefined if it made none. */
  claimed(value: V): PassResult | undefined {
    const result = this.claims.get(value);
    this.claims.delete(value);
    return result;
  }

  add(value: V): void {
    this.values.add(value);
  }

  async committed(values: readonly V[]): Promise<void> {
    const ids: string[] = [];
    for (const v of values) if (this.values.delete(v)) ids.push(this.idOf(v));
    await this.store.passed(ids, this.clock());
  }
}

type ScriptedRedis = Redis & {
  [K in keyof typeof SCRIPTS]: (...args: (string | number | Buffer)[]) => Promise<unknown>;
} & { claimDueBuffer: (...args: (string | number)[]) => Promise<Buffer[]> };

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
    for (const [name, { numberOfKeys, lua }] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
    }
    this.redis = redis as ScriptedRedis;
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
    try {
      return (await this.redis.scheduleItem(due, leased, items, final, passing, id, dueAt, payload)) as ScheduleResult;
    } catch (err) {
      // Redis unreachable or failing: the caller's record waits and is retried, never dropped.
      throw retriable('DEPENDENCY_UNAVAILABLE', `schedule store: ${(err as Error).message}`, err);
    }
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
    return (await this.redis.cancelItem(due, leased, items, final, outcome, passing, now, id)) as CancelResult;
  }

  /**
   * Records that an item was released or cancelled elsewhere (as the topics show when the
   * schedule is rebuilt): it leaves the schedule if it waits there, and is never scheduled again.
   * One a releaser holds in flight is left to that releaser.
   */
  async settle(id: string, outcome: 'released' | 'cancelled', now: number): Promise<'settled' | 'final' | 'in-flight'> {
    const { due, items, dueAt, final, outcome: outcomes, leased, passing } = this.k;
    return (await this.redis.settleItem(due, items, dueAt, final, outcomes, leased, passing, now, id, outcome)) as
      'settled' | 'final' | 'in-flight';
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
    try {
      return (await Promise.all(runs)).flat();
    } catch (err) {
      throw retriable('DEPENDENCY_UNAVAILABLE', `schedule store: ${(err as Error).message}`, err);
    }
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

  /** The earliest due time waiting, or null: lets a releaser sleep until then. */
  async nextDue(): Promise<number | null> {
    const first = await this.redis.zrange(this.k.due, 0, 0, 'WITHSCORES');
    return first.length === 2 ? Number(first[1]) : null;
  }
}
