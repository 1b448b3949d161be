import type { Redis } from 'ioredis';
import { retriable } from '../errors.ts';
import type { NotificationOrder } from '../schemas/generated/order.ts';
import type { StatusEvent } from '../schemas/generated/status-event.ts';

/**
 * The read model behind the order and status API, in Redis, built from the orders and status
 * topics (and so rebuildable from them). Every write is idempotent and monotonic, so applying a
 * topic's records again after a crash, or in a rebuild, ends in the same state.
 *
 * Keys under `prefix` (one hash tag per order keeps an order's keys in one Cluster slot):
 *   o:{id}          HASH  order (JSON, first write wins), creator, status, statusAt, processedAt,
 *                         feedSeq, feedAt, description
 *   n:{id}          HASH  notificationId → JSON {channel, destination, status, description, lastUpdate}
 *   ref:<creator>:<sendersReference>  SET of order ids
 *   chain:{chainId} SET   the ids of an order chain's orders (main order and reminders)
 *   feed:<creator>  ZSET  order id scored by its feed sequence number
 *   feedseq         STRING the last feed sequence number handed out
 */

export type OrderLifecycle = Extract<StatusEvent['status'], `Order_${string}`>;

export interface NotificationView {
  id: string;
  channel: 'Email' | 'Sms';
  destination: string | null;
  status: StatusEvent['status'];
  description: string | null;
  lastUpdate: number;
}

export interface AppliedStatus {
  result: 'ok' | 'pending' | 'complete';
  previous: StatusEvent['status'] | null;
  expiresAt: number | null;
}

export interface OrderView {
  order: NotificationOrder;
  status: OrderLifecycle;
  statusAt: number;
  processedAt: number | null;
  feedSeq: number | null;
  feedAt: number | null;
  /** the last order event's description (e.g. why an order was rejected) */
  description: string | null;
  notifications: NotificationView[];
}

// Order states only move forward; the three final ones never change.
const LUA_RANKS = `
local function orderRank(s)
  if s == 'Order_Registered' then return 1 end
  if s == 'Order_Processing' then return 2 end
  if s == 'Order_Processed' then return 3 end
  if s == 'Order_Completed' or s == 'Order_SendConditionNotMet' or s == 'Order_Cancelled' or s == 'Order_Rejected' then return 4 end
  return 0
end
local function notifRank(s)
  if s == 'Email_New' or s == 'SMS_New' then return 1 end
  if s == 'Email_Sending' or s == 'SMS_Sending' then return 2 end
  if s == 'Email_Succeeded' or s == 'SMS_Accepted' then return 3 end
  return 4
end`;

const SCRIPTS = {
  // KEYS: o ref chain ; ARGV: orderJson creator orderId status statusAt
  viewPutOrder: {
    numberOfKeys: 3,
    lua: `
      local fresh = redis.call('HSETNX', KEYS[1], 'order', ARGV[1])
      redis.call('HSETNX', KEYS[1], 'creator', ARGV[2])
      if KEYS[2] ~= '' then redis.call('SADD', KEYS[2], ARGV[3]) end
      redis.call('SADD', KEYS[3], ARGV[3])
      if ARGV[4] ~= '' then
        redis.call('HSETNX', KEYS[1], 'status', ARGV[4])
        redis.call('HSETNX', KEYS[1], 'statusAt', ARGV[5])
      end
      return fresh`,
  },
  // KEYS: o n feedseq feedPrefix ; ARGV: creator status occurredAt notificationId channel destination description now orderId expiresAt
  // Returns {result, the notification's previous status, its expiry}; result is 'complete' when
  // the order is Processed and none of its notifications is pending.
  viewApplyStatus: {
    numberOfKeys: 4,
    lua: `${LUA_RANKS}
      local status = ARGV[2]
      local at = ARGV[3]
      local notifPrev = ''
      local notifExpires = ''
      redis.call('HSETNX', KEYS[1], 'creator', ARGV[1])
      local current = redis.call('HGET', KEYS[1], 'status')
      if ARGV[4] == '' then
        local cur = orderRank(current or '')
        if cur < 4 and orderRank(status) >= cur then
          redis.call('HSET', KEYS[1], 'status', status, 'statusAt', at)
          if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'description', ARGV[7]) end
          if status == 'Order_Processed' or status == 'Order_Completed' then
            redis.call('HSETNX', KEYS[1], 'processedAt', at)
          end
          if (status == 'Order_Completed' or status == 'Order_SendConditionNotMet')
              and not redis.call('HGET', KEYS[1], 'feedSeq') then
            local seq = redis.call('INCR', KEYS[3])
            redis.call('HSET', KEYS[1], 'feedSeq', seq, 'feedAt', ARGV[8])
            redis.call('ZADD', KEYS[4] .. ARGV[1], seq, ARGV[9])
          end
          current = status
        end
      else
        local prev = redis.call('HGET', KEYS[2], ARGV[4])
        local prevStatus = ''
        if prev then prevStatus = cjson.decode(prev).status end
        local next = status
        -- a transient failure is never kept: the notification is New again and is re-sent
        if status == 'Email_Failed_TransientError' then next = 'Email_New' end
        local pr = 0
        local expires = ARGV[10]
        if prev then
          pr = notifRank(prevStatus)
          if expires == '' then expires = cjson.decode(prev).expiresAt or '' end
        end
        notifPrev = prevStatus
        notifExpires = expires
        if pr < 4 and (notifRank(next) >= pr or status == 'Email_Failed_TransientError') then
          redis.call('HSET', KEYS[2], ARGV[4], cjson.encode({
            channel = ARGV[5], destination = ARGV[6], status = next, description = ARGV[7], lastUpdate = tonumber(at),
            expiresAt = expires
          }))
        end
      end
      if current == 'Order_Processed' then
        local all = redis.call('HVALS', KEYS[2])
        for i = 1, #all do
          if notifRank(cjson.decode(all[i]).status) < 4 then return { 'pending', notifPrev, notifExpires } end
        end
        return { 'complete', notifPrev, notifExpires }
      end
      return { 'ok', notifPrev, notifExpires }`,
  },
};

type ScriptedRedis = Redis & {
  [K in keyof typeof SCRIPTS]: (...args: (string | number)[]) => Promise<unknown>;
};

export class ViewStore {
  private readonly redis: ScriptedRedis;
  private readonly p: string;

  constructor(redis: Redis, prefix: string) {
    for (const [name, { numberOfKeys, lua }] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
    }
    this.redis = redis as ScriptedRedis;
    this.p = `${prefix}view:`;
  }

  private orderKey = (id: string) => `${this.p}o:{${id}}`;
  private notifKey = (id: string) => `${this.p}n:{${id}}`;
  private refKey = (creator: string, ref: string) => `${this.p}ref:${creator}:${ref}`;
  private chainKey = (chainId: string) => `${this.p}chain:{${chainId}}`;

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw retriable('DEPENDENCY_UNAVAILABLE', `status view (${what}): ${(err as Error).message}`, err);
    }
  }

  /**
   * Records an order (first write wins, so a replayed or re-published order changes nothing).
   * `initialStatus` lets the gateway show Registered at once, before the pipeline's own event.
   */
  async putOrder(order: NotificationOrder, initialStatus?: { status: OrderLifecycle; at: number }): Promise<boolean> {
    // The order key is written with its hash tag so the script may also touch the ref set only
    // when a sender's reference exists (Cluster users keep refs on a single node).
    const fresh = await this.run('put order', () =>
      this.redis.viewPutOrder(
        this.orderKey(order.orderId),
        order.sendersReference ? this.refKey(order.creator, order.sendersReference) : '',
        this.chainKey(order.orderChainId),
        JSON.stringify(order),
        order.creator,
        order.orderId,
        initialStatus?.status ?? '',
        initialStatus?.at ?? 0,
      ),
    );
    return fresh === 1;
  }

  /**
   * Applies one status event; tells whether the order can now be marked Completed, and for a
   * notification event its status before this event and its expiry (ms), when known.
   */
  async apply(e: StatusEvent, now: number): Promise<AppliedStatus> {
    const [result, previous, expires] = (await this.run('apply status', () =>
      this.redis.viewApplyStatus(
        this.orderKey(e.orderId),
        this.notifKey(e.orderId),
        `${this.p}feedseq`,
        `${this.p}feed:`,
        e.creator,
        e.status,
        e.occurredAt,
        e.notificationId ?? '',
        e.channel ?? '',
        e.destination ?? '',
        e.description ?? '',
        now,
        e.orderId,
        e.expiresAt ?? '',
      ),
    )) as [AppliedStatus['result'], string, string | number];
    return {
      result,
      previous: (previous || null) as StatusEvent['status'] | null,
      expiresAt: expires === '' || expires === undefined ? null : Number(expires),
    };
  }

  /** The order with its status and notifications, or null when unknown or another creator's. */
  async get(orderId: string, creator?: string): Promise<OrderView | null> {
    const [o, n] = await this.run('read order', async () => {
      const pipe = this.redis.pipeline();
      pipe.hgetall(this.orderKey(orderId));
      pipe.hgetall(this.notifKey(orderId));
      const res = await pipe.exec();
      return [res?.[0]?.[1] as Record<string, string>, res?.[1]?.[1] as Record<string, string>];
    });
    if (!o?.order) return null;
    if (creator !== undefined && o.creator !== creator) return null;
    const order = JSON.parse(o.order) as NotificationOrder;
    const num = (v: string | undefined) => (v === undefined ? null : Number(v));
    return {
      order,
      status: (o.status as OrderLifecycle | undefined) ?? 'Order_Registered',
      statusAt: num(o.statusAt) || order.created,
      processedAt: num(o.processedAt),
      feedSeq: num(o.feedSeq),
      feedAt: num(o.feedAt),
      description: o.description || null,
      notifications: Object.entries(n ?? {})
        .map(([id, json]) => ({ id, ...(JSON.parse(json) as Omit<NotificationView, 'id'>) }))
        .map((v) => ({ ...v, destination: v.destination || null, description: v.description || null }))
        .sort((a, b) => a.lastUpdate - b.lastUpdate || a.id.localeCompare(b.id)),
    };
  }

  /** An order chain's orders (main order first, then reminders by send time), or [] if not the creator's. */
  async chain(chainId: string, creator: string): Promise<OrderView[]> {
    const ids = await this.run('read chain', () => this.redis.smembers(this.chainKey(chainId)));
    const views = await Promise.all(ids.map((id) => this.get(id, creator)));
    return views
      .filter((v): v is OrderView => v !== null)
      .sort(
        (a, b) =>
          Number(a.order.type === 'Reminder') - Number(b.order.type === 'Reminder') ||
          a.order.requestedSendTime - b.order.requestedSendTime ||
          a.order.orderId.localeCompare(b.order.orderId),
      );
  }

  async bySendersReference(creator: string, ref: string): Promise<OrderView[]> {
    const ids = await this.run('read refs', () => this.redis.smembers(this.refKey(creator, ref)));
    const views = await Promise.all(ids.map((id) => this.get(id, creator)));
    return views.filter((v): v is OrderView => v !== null).sort((a, b) => a.order.created - b.order.created);
  }

  /**
   * One page of a creator's status feed: entries after (asc) or before (desc) `seq`, visible
   * only once older than `visibleBefore` (the reference hides the last 2 s so a reader never
   * skips an entry committed out of order).
   */
  async feed(
    creator: string,
    opts: { seq: number; pageSize: number; order: 'asc' | 'desc'; visibleBefore: number },
  ): Promise<OrderView[]> {
    const key = `${this.p}feed:${creator}`;
    const ids = await this.run('read feed', () =>
      opts.order === 'asc'
        ? this.redis.zrangebyscore(key, `(${opts.seq}`, '+inf', 'LIMIT', 0, opts.pageSize * 2)
        : this.redis.zrevrangebyscore(
            key,
            opts.seq > 0 ? `(${opts.seq}` : '+inf',
            '-inf',
            'LIMIT',
            0,
            opts.pageSize * 2,
          ),
    );
    const out: OrderView[] = [];
    for (const id of ids) {
      const v = await this.get(id, creator);
      if (!v || v.feedSeq === null) continue;
      // Entries are visible in sequence order: stop at the first one too new to show (asc).
      if ((v.feedAt ?? 0) > opts.visibleBefore) {
        if (opts.order === 'asc') break;
        continue;
      }
      out.push(v);
      if (out.length >= opts.pageSize) break;
    }
    return out;
  }

  /**
   * Deletes every view key (for a rebuild) except the feed's sequence counter: entries rebuilt
   * get new, higher numbers, so a reader's cursor may see an order again but never misses one.
   */
  async clear(): Promise<number> {
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.p}*`, 'COUNT', 1000);
      cursor = next;
      const doomed = keys.filter((k) => k !== `${this.p}feedseq`);
      if (doomed.length > 0) removed += await this.redis.unlink(...doomed);
    } while (cursor !== '0');
    return removed;
  }
}
