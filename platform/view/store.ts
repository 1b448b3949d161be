import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import avro from 'avsc';
import { loadSchema } from '../schemas/codec.ts';
import { withOrderDefaults } from '../schemas/order-defaults.ts';
import { inRedis, redisError } from '../redis/client.ts';
import { defineScripts, type ScriptCommand } from '../redis/lua.ts';
import type { ReplicaWait } from '../redis/replica-wait.ts';
import { chainIdOf, mainOrderId } from '../ids.ts';
import { smsCountOf } from '../notifications/sms-count.ts';
import { permanent } from '../errors.ts';
import type { NotificationOrder } from '../schemas/generated/order.ts';
import type { StatusEvent } from '../schemas/generated/status-event.ts';
import { IdSet } from './id-set.ts';

/**
 * The read model behind the order and status API, in Redis, built from the orders and status
 * topics (and so rebuildable from them). Every write is idempotent and monotonic, so applying a
 * topic's records again after a crash, or in a rebuild, ends in the same state.
 *
 * Keys under `prefix` (one hash tag per order keeps an order's keys in one Cluster slot):
 *   o:{id}          HASH  order (Avro, first write wins), status, statusAt, processedAt, feedSeq,
 *                         feedAt, description, completedBy (partition:offset of the status
 *                         record that completed it), and per notification
 *                         #<notificationId> → JSON {c, d, s, m, u, e} (channel, destination,
 *                         status, description, lastUpdate, expiresAt)
 *   n:{id}          HASH  notificationId → JSON, as notifications were stored before they moved
 *                         into the order's hash (still read; emptied as they are updated)
 *   ref:<creator>:<sendersReference>  SET of order ids
 *   chain:{chainId} SET   the ids of an order chain's other orders: its reminders, and a main
 *                         order whose id is not the one derived from the chain's (mainOrderId),
 *                         as a direct producer may choose (the derived one is found without it)
 *   feed:<creator>  ZSET  order id scored by its feed sequence number
 *   feedseq         STRING the last feed sequence number handed out
 *   dash:<n|o>:<bucket>  ZSET  the support dashboard's index (see `dashboard`): notifications
 *                         by their recipient's national identity number (n) or organisation
 *                         number (o), scored by the order's requested send time
 *   metrics:<YYYY-MM> HASH  the monthly metrics (see `monthlyMetrics`): <kind>|<creator> → count,
 *                         kinds o, e, es, s, ss; the order's hash keeps its month (mo) and what
 *                         one of its SMS counts for (sc)
 *   daily:<s|e>:<YYYY-MM-DD>  SET  the daily exports' notifications (see `daily`): the SMS (s)
 *                         or emails (e) given a final result that day (past New, Sending and
 *                         Accepted / Succeeded), each as its order's and its own id (16 bytes
 *                         each) and the gateway's reference (the entry then drops it); kept
 *                         `DAILY_RETENTION_MS` (or the view's retention, if shorter)
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
  /**
   * complete: this event (this record) completes the order; completing: another record did;
   * fallback: this event (this record) fired a recipient's fallback, `fallback`, to be sent
   */
  result: 'ok' | 'pending' | 'complete' | 'completing' | 'fallback';
  previous: StatusEvent['status'] | null;
  expiresAt: number | null;
  fallback?: NonNullable<StatusEvent['fallback']>;
}

/** the status event's `fallback` field, to check what the view gives back before it is sent */
const fallbackType = (avro.Type.forSchema(loadSchema('status-event')) as avro.types.RecordType).field('fallback')!.type;

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

const SCRIPTS = {
  viewPutOrder: 'view/put-order.lua',
  viewApplyStatus: 'view/apply-status.lua',
} as const;

type ScriptedRedis = ReturnType<typeof defineScripts<keyof typeof SCRIPTS>>;

/** What the support dashboard looks notifications up by. */
export type DashboardKind = 'nin' | 'org';

/**
 * Where a recipient's notifications are indexed: one of 65,536 buckets per kind (the first two
 * bytes of a SHA-256 of the kind and the number), each entry's member starting with the next
 * eight, so a bucket's other numbers are told apart (76 bits in all: no two numbers of either
 * kind share them) and no number is written in a key or member. With up to 128 entries a bucket
 * stays in Redis' compact listpack encoding (its default `zset-max-listpack-entries`): up to
 * about 8 million notifications retained.
 */
function dashboardSlot(kind: DashboardKind, value: string): { bucket: string; tail: Buffer } {
  const digest = createHash('sha256').update(`${kind}:${value}`).digest();
  return {
    bucket: `${kind === 'nin' ? 'n' : 'o'}:${digest.subarray(0, 2).toString('hex')}`,
    tail: digest.subarray(2, 10),
  };
}
/** (lower case: the form the view keys orders by, and the form an entry is read back in) */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const uuidBytes = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex');
const uuidText = (b: Buffer) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
/** an index entry outlives its order's send time by the view's retention and this (an order is done within days of it) */
const DASHBOARD_SLACK_MS = 7 * 24 * 3600 * 1000;

/** The monthly metrics kept (the page offers this year and the five before): six years and two months. */
export const METRICS_RETENTION_MS = (6 * 366 + 62) * 24 * 3600 * 1000;
/**
 * How long a day's set of exported notifications is kept: the exports are asked for each day
 * just past; a week more lets a missed day be fetched again.
 */
export const DAILY_RETENTION_MS = 8 * 24 * 3600 * 1000;
/** YYYY-MM-DD of a time, in UTC (the reference's daily exports cut days in UTC) */
export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The channel of a daily export. */
export type DailyChannel = 'sms' | 'email';

/** members of a day's set asked for in one SSCAN call (and their orders in one pipeline) */
const DAILY_PAGE = 1000;

/** A notification as the daily exports list it, with its order. */
export interface DailyNotification {
  notificationId: string;
  order: NotificationOrder;
  status: StatusEvent['status'];
  destination: string | null;
  /** when its status was last set */
  lastUpdate: number;
  /** the SMSC's message id(s) or the mail server's reference, from the send's events */
  gatewayReference: string | null;
  /** (SMS) the length of its text as sent, when keywords were filled in */
  customBodyLength: number | null;
  /** (SMS) what one SMS of its order counts for (the reference's smscount) */
  smsCount: number | null;
}

/** The statuses a daily export leaves out (not yet a result: the reference's NOT IN lists). */
const NOT_EXPORTED = new Set([
  'SMS_New',
  'SMS_Sending',
  'SMS_Accepted',
  'Email_New',
  'Email_Sending',
  'Email_Succeeded',
]);
/**
 * Whether a daily export lists a notification with this status (the reader's re-check;
 * apply-status.lua's `exported` puts it in its day's set, by the same rule).
 */
export const exportedStatus = (status: string) => !NOT_EXPORTED.has(status);

/** YYYY-MM of a time, in UTC (as the reference's database extracts a month) */
const monthOf = (ms: number) => new Date(ms).toISOString().slice(0, 7);

/** One creator's row of the monthly metrics (the reference's `MetricsForOrg`). */
export interface OrgMetrics {
  org: string;
  ordersCreated: number;
  emailNotificationsCreated: number;
  successfulEmailNotifications: number;
  smsNotificationsCreated: number;
  successfulSmsNotifications: number;
}

/** The reference's `MonthlyNotificationMetrics`. */
export interface MonthlyMetrics {
  month: number;
  year: number;
  metrics: OrgMetrics[];
}

/** One order as the support dashboard shows it: the order, and its notifications for the number looked up. */
export interface DashboardEntry {
  view: OrderView;
  notifications: NotificationView[];
}

/** How long the view keeps an order after its last update, by default: the reference's 90 days. */
export const DEFAULT_VIEW_RETENTION_MS = 90 * 24 * 3600 * 1000;

/**
 * The order fields the view stores, pinned: its first format. Avro bytes carry no schema, so
 * bytes stored before could not be read with a longer one; a field added to the order since is
 * not stored, and reads back as its schema default (reads do not show such fields). Adding one
 * here is a new format, which needs a version mark on the stored bytes first.
 */
export const VIEW_ORDER_FIELDS = [
  'orderId',
  'orderChainId',
  'type',
  'creator',
  'idempotencyId',
  'sendersReference',
  'requestedSendTime',
  'created',
  'notificationChannel',
  'sendingTimePolicy',
  'conditionEndpoint',
  'ignoreReservation',
  'useStaleContactInformation',
  'resourceId',
  'resourceAction',
  'timeToLiveSeconds',
  'emailTemplate',
  'smsTemplate',
  'recipients',
  'dialogportenAssociation',
] as const;
const orderSchema = loadSchema('order') as { fields: { name: string }[] };
const orderType = avro.Type.forSchema({
  ...orderSchema,
  fields: VIEW_ORDER_FIELDS.map((name) => {
    const field = orderSchema.fields.find((f) => f.name === name);
    if (!field) throw new Error(`the order schema has lost ${name}, a field the status view stores`);
    return field;
  }),
} as avro.Schema);

/**
 * An order as the view stores it: Avro (about a third of its JSON), without the ids it can be
 * told from: its orderId is its key's, and a chain id derived from (creator, idempotencyId), as
 * the gateway's are, is derived again (73 bytes of every order's hash). JSON, and Avro with the
 * ids, written before are still read.
 */
export function encodeOrder(order: NotificationOrder): Buffer {
  const derived = order.idempotencyId !== null && order.orderChainId === chainIdOf(order.creator, order.idempotencyId);
  return orderType.toBuffer({ ...order, orderId: '', orderChainId: derived ? '' : order.orderChainId });
}

/** The order stored under `orderId` (see encodeOrder). */
export function decodeOrder(stored: Buffer, orderId: string): NotificationOrder {
  // JSON starts with '{'; an Avro order with its orderId starts with the id's length (36 → 0x48),
  // one without it with 0
  if (stored[0] === 0x7b) return withOrderDefaults(JSON.parse(stored.toString('utf8')) as NotificationOrder);
  const order = withOrderDefaults(orderType.fromBuffer(stored) as NotificationOrder);
  if (order.orderId === '') order.orderId = orderId;
  if (order.orderChainId === '' && order.idempotencyId !== null)
    order.orderChainId = chainIdOf(order.creator, order.idempotencyId);
  return order;
}

/** A notification's channel, as its status names it (SMS_… or Email_…). */
const channelOf = (status: StatusEvent['status']): NotificationView['channel'] =>
  status.startsWith('SMS_') ? 'Sms' : 'Email';

/**
 * The answer of a pipeline's `i`th command: its error, or null and its result. ioredis's `exec`
 * does not fail when a command does (the connection lost, its retries used up): the failure is
 * in the command's place, and a missing answer is a failure too.
 */
function answerAt(answers: [Error | null, unknown][] | null, i: number): [Error | null, unknown] {
  return answers?.[i] ?? [new Error('no answer from the pipeline'), null];
}

/** A notification as the view stores it (short keys: it is kept for every notification; no channel since its status names it). */
interface StoredNotification {
  c?: NotificationView['channel'];
  d?: string;
  s?: StatusEvent['status'];
  m?: string;
  u?: number;
  e?: number | string;
  g?: string;
  l?: number;
  // as written before the short keys
  channel?: NotificationView['channel'];
  destination?: string;
  status?: StatusEvent['status'];
  description?: string;
  lastUpdate?: number;
}

export class ViewStore {
  private readonly redis: ScriptedRedis;
  /**
   * where orders and statuses are written: with `replicas`, its connection (a WAIT covers only
   * its own connection's writes, and holds it while it waits)
   */
  private readonly writes: ScriptedRedis;
  private readonly p: string;

  /**
   * `retentionMs`: how long an order stays readable after its last update (then reads answer
   * 404). `countMetrics`: whether orders and notifications are counted in the monthly metrics as
   * they are written (a rebuild writes them again without counting: see `clear`).
   */
  constructor(
    redis: Redis,
    prefix: string,
    private readonly retentionMs = DEFAULT_VIEW_RETENTION_MS,
    private readonly countMetrics = true,
    /** the wall clock: a day's export set is written only for the days still kept (a rebuild re-applies a year) */
    private readonly clock: () => number = Date.now,
    /**
     * with REDIS_WAIT_REPLICAS (the stages' view): a write resolves once Redis's replicas hold
     * it, so a failover to one of them cannot lose an order or a status whose record was
     * committed since (the view is told of each once: nothing would write it again)
     */
    private readonly replicas?: ReplicaWait,
  ) {
    this.redis = defineScripts(redis, SCRIPTS);
    this.writes = replicas ? defineScripts(replicas.connection, SCRIPTS) : this.redis;
    this.p = `${prefix}view:`;
  }

  private orderKey = (id: string) => `${this.p}o:{${id}}`;
  private notifKey = (id: string) => `${this.p}n:{${id}}`;
  private refKey = (creator: string, ref: string) => `${this.p}ref:${creator}:${ref}`;
  private chainKey = (chainId: string) => `${this.p}chain:{${chainId}}`;

  private run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return inRedis(`status view (${what})`, fn);
  }

  /**
   * Records an order (first write wins, so a replayed or re-published order changes nothing).
   * `initialStatus` lets the gateway show Registered at once, before the pipeline's own event.
   */
  async putOrder(order: NotificationOrder, initialStatus?: { status: OrderLifecycle; at: number }): Promise<boolean> {
    // The order key is written with its hash tag so the script may also touch the ref set only
    // when a sender's reference exists (Cluster users keep refs on a single node).
    const fresh = await this.run('put order', () => this.writes.viewPutOrder(...this.putArgs(order, initialStatus)));
    await this.held('the order');
    return fresh === 1;
  }

  /**
   * `putOrder` for many orders in one round trip (a pipeline; with `replicas`, one wait for them
   * all): order-view records a batch this way. Each answer tells whether its order was new, or
   * is the error its run met.
   */
  async putOrders(orders: NotificationOrder[]): Promise<(boolean | Error)[]> {
    if (orders.length === 0) return [];
    const answers = await this.run('put orders', () => {
      const pipe = this.scriptPipeline();
      for (const order of orders) void pipe.viewPutOrder(...this.putArgs(order));
      return pipe.exec();
    });
    await this.held(orders.length === 1 ? 'the order' : `${orders.length} orders`);
    return orders.map((_, i) => {
      const [err, answer] = answerAt(answers, i);
      return err ?? answer === 1;
    });
  }

  /**
   * `putOrder`, then `applyAll` of `events`, in one round trip: one pipeline, in that order, so
   * each script run sees the ones before it, as when awaited one by one. The gateway records an
   * instant order this way (at 10 orders a second every round trip wakes Redis and the gateway
   * for itself). Tells whether the order was new, and each event's result or the error it met.
   */
  async putOrderAndApply(
    order: NotificationOrder,
    initialStatus: { status: OrderLifecycle; at: number },
    events: StatusEvent[],
    now: number,
  ): Promise<{ fresh: boolean; applied: (AppliedStatus | Error)[] }> {
    const answers = await this.run('put order and apply statuses', () => {
      const pipe = this.scriptPipeline();
      void pipe.viewPutOrder(...this.putArgs(order, initialStatus));
      for (const event of events) void pipe.viewApplyStatus(...this.applyArgs(event, now, ''));
      // the index last: the answers above keep their places
      for (const event of events) this.index(pipe, event, now);
      return pipe.exec();
    });
    const [putErr, put] = answerAt(answers, 0);
    if (putErr) throw putErr;
    await this.held('the order and its statuses');
    return {
      fresh: put === 1,
      applied: events.map((_, i) => {
        const [err, answer] = answerAt(answers, i + 1);
        return err ?? appliedOf(answer);
      }),
    };
  }

  /**
   * With `replicas`, resolves once they hold every write made so far (else rejects, retriable:
   * the record that wrote is tried again, and writes the same again harmlessly).
   */
  private async held(subject: string): Promise<void> {
    if (this.replicas) await this.replicas.hold(subject);
  }

  /** a pipeline (for writes) that takes the view's scripts, answering each command's error or result in order */
  private scriptPipeline() {
    return this.writes.pipeline() as unknown as Record<keyof typeof SCRIPTS, ScriptCommand> & {
      exec(): Promise<[Error | null, unknown][] | null>;
      zadd(key: string, ...scoresAndMembers: (number | Buffer)[]): unknown;
      zremrangebyscore(key: string, min: string, max: number): unknown;
      pexpire(key: string, ms: number): unknown;
    };
  }

  /**
   * The support dashboard's index entries of an event that creates a notification for a person
   * or an organisation the order named (`recipientNationalIdentityNumber` /
   * `recipientOrganizationNumber`, with the order's `requestedSendTime`): the notification's, and
   * those of the fallback it carries (an extension: sent on the other channel if it fails), which
   * a lookup shows once the fallback has fired and the order's view holds them. Idempotent (the
   * same member and score again change nothing), so a replay or a rebuild writes them again
   * harmlessly. Entries whose send time is older than the view's retention (and a week) are
   * trimmed as their bucket is written, and a bucket unwritten that long expires. (Three plain
   * commands per bucket: one script doing the three cost Redis more CPU, 10.3 µs against 7.9 in
   * `./dev bench --suite dashboard`.)
   */
  private index(pipe: ReturnType<ViewStore['scriptPipeline']>, e: StatusEvent, now: number): void {
    if (e.notificationId === null || e.requestedSendTime === null) return;
    if (!UUID.test(e.orderId)) return;
    const keep = this.retentionMs + DASHBOARD_SLACK_MS;
    const score = e.requestedSendTime;
    const order = uuidBytes(e.orderId);
    const ids = [e.notificationId, ...(e.fallback?.notifications.map((n) => n.notificationId) ?? [])]
      .filter((id) => UUID.test(id))
      .map((id) => Buffer.concat([order, uuidBytes(id)]));
    if (ids.length === 0) return;
    for (const [kind, value] of [
      ['nin', e.recipientNationalIdentityNumber],
      ['org', e.recipientOrganizationNumber],
    ] as const) {
      if (!value) continue;
      const { bucket, tail } = dashboardSlot(kind, value);
      const key = `${this.p}dash:${bucket}`;
      pipe.zadd(key, ...ids.flatMap((id) => [score, Buffer.concat([tail, id])]));
      pipe.zremrangebyscore(key, '-inf', now - keep);
      pipe.pexpire(key, keep);
    }
  }

  private putArgs(
    order: NotificationOrder,
    initialStatus?: { status: OrderLifecycle; at: number },
  ): (string | number | Buffer)[] {
    return [
      this.orderKey(order.orderId),
      order.sendersReference ? this.refKey(order.creator, order.sendersReference) : '',
      // (a set of one costs Redis about 260 bytes, and most orders are their chain's derived main order)
      order.type === 'Notification' && order.orderId === mainOrderId(order.orderChainId)
        ? ''
        : this.chainKey(order.orderChainId),
      encodeOrder(order),
      order.creator,
      order.orderId,
      initialStatus?.status ?? '',
      initialStatus?.at ?? 0,
      this.retentionMs,
      monthOf(order.requestedSendTime),
      order.smsTemplate ? smsCountOf(order.smsTemplate.body) : '',
      this.countMetrics ? `${this.p}metrics:` : '',
      METRICS_RETENTION_MS,
    ];
  }

  /**
   * Applies one status event; tells whether the order can now be marked Completed, and for a
   * notification event its status before this event and its expiry (ms), when known. With the
   * applying record's `source`, only that record is told 'complete' (see apply-status.lua).
   */
  async apply(e: StatusEvent, now: number, source = ''): Promise<AppliedStatus> {
    const [applied] = await this.applyAll([{ event: e, source }], now);
    // a script's own error, told apart as every Redis call's is (a reply error is permanent)
    if (applied instanceof Error) throw redisError('status view (apply status)', applied);
    return applied!;
  }

  /**
   * `apply` for many events in one round trip (a pipeline, in order: each event sees the ones
   * before it, as when applied one by one; one script run per event, so every run's keys stay
   * in one Redis Cluster slot). Each answer is the event's result, or the error its run met.
   * An event's `at` stands for `now` for that event (a rebuild applies each at its record's time).
   */
  async applyAll(
    events: { event: StatusEvent; source: string; at?: number }[],
    now: number,
  ): Promise<(AppliedStatus | Error)[]> {
    if (events.length === 0) return [];
    const answers = await this.run('apply statuses', () => {
      const pipe = this.scriptPipeline();
      for (const { event, source, at } of events)
        void pipe.viewApplyStatus(...this.applyArgs(event, at ?? now, source));
      // the index last: the answers above keep their places
      for (const { event, at } of events) this.index(pipe, event, at ?? now);
      return pipe.exec();
    });
    await this.held(events.length === 1 ? 'the status' : `${events.length} statuses`);
    return events.map((_, i) => {
      const [err, answer] = answerAt(answers, i);
      return err ?? appliedOf(answer);
    });
  }

  private applyArgs(e: StatusEvent, now: number, source: string): (string | number | Buffer)[] {
    return [
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
      this.retentionMs,
      `${this.p}o:{`,
      source,
      e.fallback ? JSON.stringify(e.fallback) : '',
      e.requestedSendTime === null ? '' : monthOf(e.requestedSendTime),
      e.smsCount ?? '',
      this.countMetrics ? `${this.p}metrics:` : '',
      METRICS_RETENTION_MS,
      e.gatewayReference ?? '',
      e.customBodyLength ?? '',
      `${this.p}daily:${e.status.startsWith('SMS_') ? 's' : 'e'}:${dayOf(e.occurredAt)}`,
      // (not for a day older than the sets are kept: a rebuild would fill a set for every day of
      // its topics, each then kept DAILY_RETENTION_MS)
      e.notificationId !== null &&
      UUID.test(e.orderId) &&
      UUID.test(e.notificationId) &&
      e.occurredAt >= this.clock() - DAILY_RETENTION_MS
        ? Buffer.concat([uuidBytes(e.orderId), uuidBytes(e.notificationId)])
        : '',
      // (not past the orders it names)
      Math.min(DAILY_RETENTION_MS, this.retentionMs),
    ];
  }

  /**
   * A daily export's notifications (the reference's `get_sms_metrics` / `get_email_metrics`):
   * the channel's notifications whose result was last set on `day` (YYYY-MM-DD, UTC) and is more
   * than New, Sending and Accepted (SMS) or Succeeded (email), with their orders, a page at a time
   * (the day's set read with SSCAN, about `DAILY_PAGE` members a call), each once, in no
   * particular order (the reference's query has none). A day may list millions: what is held at
   * once is a page and the ids already given (`IdSet`). (Such a result is final: the view sets it
   * once, and lists it in that day's set then; the checks here keep the reference's rule whatever
   * the set holds.) One whose order the view no longer keeps is left out.
   */
  async *dailyPages(channel: DailyChannel, day: string): AsyncGenerator<DailyNotification[]> {
    const key = `${this.p}daily:${channel === 'sms' ? 's' : 'e'}:${day}`;
    // (SSCAN may give a member twice, when the set is resized between calls: the notification
    // ids given, 21–43 bytes each)
    const given = new IdSet();
    let cursor = '0';
    do {
      const [next, members] = await this.run('read daily export', () =>
        this.redis.sscanBuffer(key, cursor, 'COUNT', DAILY_PAGE),
      );
      cursor = next.toString('latin1');
      const wanted = new Map<string, string[]>();
      const refs = new Map<string, string>();
      for (const m of members) {
        if (m.length < 32) continue;
        if (!given.add(m, 16)) continue;
        const orderId = uuidText(m.subarray(0, 16));
        const notificationId = uuidText(m.subarray(16, 32));
        const ofOrder = wanted.get(orderId);
        if (ofOrder) ofOrder.push(notificationId);
        else wanted.set(orderId, [notificationId]);
        if (m.length > 32) refs.set(notificationId, m.subarray(32).toString('utf8'));
      }
      const page = wanted.size ? await this.dailyRows(channel, day, wanted, refs) : [];
      if (page.length) yield page;
    } while (cursor !== '0');
  }

  /** the notifications `wanted` (order id → notification ids) of a daily export, as the view has them */
  private async dailyRows(
    channel: DailyChannel,
    day: string,
    wanted: Map<string, string[]>,
    refs: Map<string, string>,
  ): Promise<DailyNotification[]> {
    const orderIds = [...wanted.keys()];
    const answers = await this.run('read daily export', async () => {
      const pipe = this.redis.pipeline();
      for (const id of orderIds)
        pipe.hmgetBuffer(this.orderKey(id), 'order', 'sc', ...wanted.get(id)!.map((n) => `#${n}`));
      return pipe.exec();
    });
    const out: DailyNotification[] = [];
    for (const [j, orderId] of orderIds.entries()) {
      const [err, values] = answerAt(answers, j);
      if (err) throw redisError('status view (read daily export)', err);
      const [stored, sc, ...entries] = values as (Buffer | null)[];
      if (!stored) continue;
      const order = decodeOrder(stored, orderId);
      for (const [k, json] of entries.entries()) {
        if (!json) continue;
        const v = JSON.parse(json.toString('utf8')) as StoredNotification;
        const status = (v.s ?? v.status)!;
        const lastUpdate = (v.u ?? v.lastUpdate)!;
        if (!exportedStatus(status) || dayOf(lastUpdate) !== day) continue;
        if ((channel === 'sms') !== status.startsWith('SMS_')) continue;
        const notificationId = wanted.get(orderId)![k]!;
        out.push({
          notificationId,
          order,
          status,
          destination: v.d ?? v.destination ?? null,
          lastUpdate,
          gatewayReference: refs.get(notificationId) ?? v.g ?? null,
          customBodyLength: v.l ?? null,
          smsCount: sc ? Number(sc.toString('utf8')) : null,
        });
      }
    }
    return out;
  }

  /**
   * The monthly metrics (the reference's `/metrics` page, its `get_metrics_v2`): per creator, the
   * orders whose requested send time falls in the month (UTC), their email notifications and how
   * many of those are Succeeded or Delivered, the SMS messages their SMS notifications count for
   * and how many of those notifications are Accepted or Delivered; creators in name order. Counted
   * as the view is written, and kept `METRICS_RETENTION_MS` (the page offers this year and the
   * five before), past the orders themselves.
   */
  async monthlyMetrics(month: number, year: number): Promise<MonthlyMetrics> {
    const key = `${this.p}metrics:${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
    const fields = await this.run('read metrics', () => this.redis.hgetall(key));
    const byOrg = new Map<string, OrgMetrics>();
    for (const [field, value] of Object.entries(fields)) {
      const bar = field.indexOf('|');
      const kind = field.slice(0, bar);
      const org = field.slice(bar + 1);
      const row = byOrg.get(org) ?? {
        org,
        ordersCreated: 0,
        emailNotificationsCreated: 0,
        successfulEmailNotifications: 0,
        smsNotificationsCreated: 0,
        successfulSmsNotifications: 0,
      };
      const n = Number(value);
      if (kind === 'o') row.ordersCreated = n;
      else if (kind === 'e') row.emailNotificationsCreated = n;
      else if (kind === 'es') row.successfulEmailNotifications = n;
      else if (kind === 's') row.smsNotificationsCreated = n;
      else if (kind === 'ss') row.successfulSmsNotifications = n;
      else continue;
      byOrg.set(org, row);
    }
    return { month, year, metrics: [...byOrg.values()].sort((a, b) => (a.org < b.org ? -1 : a.org > b.org ? 1 : 0)) };
  }

  /** The order with its status and notifications, or null when unknown or another creator's. */
  async get(orderId: string, creator?: string): Promise<OrderView | null> {
    const [o, n] = await this.run('read order', async () => {
      const pipe = this.redis.pipeline();
      pipe.hgetallBuffer(this.orderKey(orderId));
      pipe.hgetall(this.notifKey(orderId));
      const res = await pipe.exec();
      // A command Redis did not answer (the connection lost, retries used up, a dataset still
      // loading) fails in its place in the pipeline's answers, not in `exec`: unchecked, such a
      // read came back as no order, and the API answered 404 "No order with this id" (a
      // cancellation too, which a client does not try again) rather than 503 while Redis failed
      // over (`test/processors/redis-failover-load.test.ts`, 2026-12-07).
      const [[orderErr, o], [notifErr, n]] = [answerAt(res, 0), answerAt(res, 1)];
      if (orderErr ?? notifErr) throw orderErr ?? notifErr;
      return [o as Record<string, Buffer>, n as Record<string, string>];
    });
    if (!o?.order) return null;
    const text = (k: string) => o[k]?.toString('utf8');
    const order = decodeOrder(o.order, orderId);
    if (creator !== undefined && order.creator !== creator) return null;
    const num = (v: string | undefined) => (v === undefined ? null : Number(v));
    return {
      order,
      status: (text('status') as OrderLifecycle | undefined) ?? 'Order_Registered',
      statusAt: num(text('statusAt')) || order.created,
      processedAt: num(text('processedAt')),
      feedSeq: num(text('feedSeq')),
      feedAt: num(text('feedAt')),
      description: text('description') || null,
      notifications: [
        ...Object.entries(n ?? {}).filter(([id]) => o[`#${id}`] === undefined),
        ...Object.entries(o)
          .filter(([field]) => field.startsWith('#'))
          .map(([field, json]) => [field.slice(1), json.toString('utf8')] as const),
      ]
        .map(([id, json]) => {
          const v = JSON.parse(json) as StoredNotification;
          return {
            id,
            channel: v.c ?? v.channel ?? channelOf((v.s ?? v.status)!),
            destination: v.d ?? v.destination ?? null,
            status: (v.s ?? v.status)!,
            description: v.m ?? v.description ?? null,
            lastUpdate: (v.u ?? v.lastUpdate)!,
          };
        })
        .map((v) => ({ ...v, destination: v.destination || null, description: v.description || null }))
        .sort((a, b) => a.lastUpdate - b.lastUpdate || a.id.localeCompare(b.id)),
    };
  }

  /** An order chain's orders (main order first, then reminders by send time), or [] if not the creator's. */
  async chain(chainId: string, creator: string): Promise<OrderView[]> {
    const listed = await this.run('read chain', () => this.redis.smembers(this.chainKey(chainId)));
    const ids = [...new Set([mainOrderId(chainId), ...listed])];
    const views = await Promise.all(ids.map((id) => this.get(id, creator)));
    return views
      .filter((v): v is OrderView => v !== null && v.order.orderChainId.toLowerCase() === chainId)
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
   * The support dashboard: the orders with notifications for a person (`nin`) or an
   * organisation (`org`) whose requested send time is in [from, to), latest first, each with
   * those notifications only (an order to several recipients shows the one looked up), across
   * every creator. An order the view no longer keeps is left out.
   */
  async dashboard(kind: DashboardKind, value: string, from: number, to: number): Promise<DashboardEntry[]> {
    const { bucket, tail } = dashboardSlot(kind, value);
    const members = await this.run('read dashboard index', () =>
      this.redis.zrevrangebyscoreBuffer(`${this.p}dash:${bucket}`, `(${to}`, from),
    );
    const wanted = new Map<string, Set<string>>();
    for (const m of members) {
      if (m.length !== 40 || !m.subarray(0, 8).equals(tail)) continue;
      const orderId = uuidText(m.subarray(8, 24));
      const ids = wanted.get(orderId) ?? new Set<string>();
      ids.add(uuidText(m.subarray(24, 40)));
      wanted.set(orderId, ids);
    }
    const out: DashboardEntry[] = [];
    const orderIds = [...wanted.keys()];
    for (let i = 0; i < orderIds.length; i += 100) {
      const views = await Promise.all(orderIds.slice(i, i + 100).map((id) => this.get(id)));
      for (const view of views) {
        if (!view) continue;
        const ids = wanted.get(view.order.orderId)!;
        const notifications = view.notifications.filter((n) => ids.has(n.id));
        if (notifications.length > 0) out.push({ view, notifications });
      }
    }
    return out;
  }

  /**
   * Deletes every view key (for a rebuild) except the feed's sequence counter (entries rebuilt
   * get new, higher numbers, so a reader's cursor may see an order again but never misses one)
   * and the monthly metrics: they count years of orders, and the topics keep one, so a rebuild
   * (a ViewStore with `countMetrics` off) leaves them as they are.
   */
  async clear(): Promise<number> {
    let removed = 0;
    for await (const keys of this.redis.scanStream({ match: `${this.p}*`, count: 1000 }) as AsyncIterable<string[]>) {
      const doomed = keys.filter((k) => k !== `${this.p}feedseq` && !k.startsWith(`${this.p}metrics:`));
      if (doomed.length > 0) removed += await this.redis.unlink(...doomed);
    }
    return removed;
  }
}

function appliedOf(answer: unknown): AppliedStatus {
  const [result, previous, expires, fallback] = answer as [
    AppliedStatus['result'],
    string,
    string | number,
    string | undefined,
  ];
  return {
    result,
    previous: (previous || null) as StatusEvent['status'] | null,
    expiresAt: expires === '' || expires === undefined ? null : Number(expires),
    ...(result === 'fallback' ? { fallback: fallbackOf(fallback) } : {}),
  };
}

/**
 * A fired fallback as the view kept it, checked against its schema (it is about to be sent). One
 * that does not fit was not written by this system: the status event that fired it is a dead
 * letter with the reason (a retry would read the same bytes again, forever).
 */
export function fallbackOf(json: string | undefined): NonNullable<StatusEvent['fallback']> {
  let parsed: unknown = null;
  try {
    parsed = json === undefined ? null : JSON.parse(json);
  } catch {
    // reported below, as any other misfit
  }
  if (parsed === null || !fallbackType.isValid(parsed))
    throw permanent(
      'INVALID_RECORD',
      'the status view gave back a fallback that is not one (its stored JSON does not fit the schema)',
    );
  return parsed as NonNullable<StatusEvent['fallback']>;
}
