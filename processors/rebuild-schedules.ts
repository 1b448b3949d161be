import type { Config } from '../platform/config.ts';
import type { InboundRecord, KafkaAdapter } from '../platform/kafka/adapter.ts';
import type { Redis } from '../platform/redis/client.ts';
import { ScheduleStore } from '../platform/redis/schedule-store.ts';
import type { AvroCodec } from '../platform/schemas/codec.ts';
import type { StatusEvent } from '../platform/schemas/generated/status-event.ts';
import { topicName, type TopicKey, type TopicValues } from '../platform/topics.ts';
import { orderRecordProblems } from '../platform/validation/order-record.ts';
import { orderOf } from '../platform/schemas/enriched.ts';
import { releaseAt } from './schedule-window/stage.ts';
import type { SendWindow } from '../platform/notifications/window.ts';
import { heldValues } from './runtime/deferral.ts';
import { decodedAsStaged } from './rebuild-read.ts';
import { stageGroupId } from './runtime/runner.ts';
import { AWAITING_REPORT, expiryEvent, NOT_FINAL } from './status-view/stage.ts';

export interface RebuildCounts {
  /** items put (back) in the schedule, and items marked released or cancelled */
  orders: { waiting: number; settled: number };
  smsWindow: { waiting: number; settled: number };
  expiry: { waiting: number; settled: number };
  conditionRetry: { waiting: number; settled: number };
}

/**
 * Rebuilds the three Redis schedules from the topics, for when Redis lost them (its AOF is the
 * first line of defence; this is the second). Additive and idempotent: what the topics show as
 * waiting is scheduled (an item already there stays as it is), what they show as released or
 * cancelled is marked final so no replay can release it; nothing else is touched.
 *
 * - orders (`<prefix>orders:`, the scheduler's): every valid, non-instant order on the orders
 *   topic waits for its requestedSendTime unless the status topic has a later order status for
 *   it (Processing and after: released; Cancelled: cancelled; both topics keep a year) or it is
 *   on orders.due (released; kept a week).
 * - SMS window (`<prefix>sms-window:`): every SMS on sms.pending waits for its next send
 *   opportunity unless it is on sms.queue or has a status from send-sms.
 * - expiry checks (`<prefix>expiry:`, status-view's): every notification whose last word is
 *   Succeeded/Accepted, with no final status after, waits for its expiry plus the grace.
 * - condition re-checks (`<prefix>condition-retry:`, evaluate-condition's): an order on
 *   orders.enriched with a condition endpoint, first check, below the offset evaluate-condition
 *   committed (so it was checked, or, marked as checked by prepare-notifications, passed by),
 *   with neither a decision (orders.approved, SendConditionNotMet)
 *   nor its re-check record on orders.enriched, waits for its re-check (first check's time +
 *   CONDITION_RETRY_DELAY_MS). Records past the committed offset are left to the stage.
 *
 * Run it with the stages stopped (`./dev rebuild-schedules` does): a stage's open transaction
 * is not visible here, so a record it is writing could be scheduled once more (the schedule and
 * the send ledger would still keep it from going out twice, but statuses could repeat).
 */
export async function rebuildSchedules(deps: {
  kafka: KafkaAdapter;
  codec: AvroCodec;
  redis: Redis;
  config: Config;
  window: SendWindow;
  clock: () => number;
}): Promise<RebuildCounts> {
  const { kafka, codec, config, clock } = deps;
  const redisPrefix = config.REDIS_PREFIX ?? config.TOPIC_PREFIX;
  const store = (name: string) => new ScheduleStore(deps.redis, `${redisPrefix}${name}`);
  const read = async <K extends TopicKey>(
    key: K,
    onValue: (value: TopicValues[K], record: InboundRecord) => void,
  ): Promise<void> => {
    const records: InboundRecord[] = [];
    await kafka.readSince(topicName(config.TOPIC_PREFIX, key), 0, (r) => records.push(r));
    for (const r of records) {
      // (an undecodable record was dead-lettered by its stage: it never waited)
      const value = await decodedAsStaged(codec, key, r.value);
      if (value !== undefined) onValue(value, r);
    }
  };

  // What the status topic says happened to each order and notification.
  const orderOutcome = new Map<string, 'released' | 'cancelled'>();
  const conditionNotMet = new Set<string>();
  const awaiting = new Map<string, { event: StatusEvent; expiresAt: number }>();
  const finished = new Set<string>();
  const smsSent = new Set<string>();
  await read('status', (e) => {
    if (!e.notificationId) {
      if (e.status === 'Order_SendConditionNotMet') conditionNotMet.add(e.orderId);
      if (e.status === 'Order_Cancelled') orderOutcome.set(e.orderId, 'cancelled');
      else if (e.status !== 'Order_Registered' && e.status !== 'Order_Rejected' && !orderOutcome.has(e.orderId))
        orderOutcome.set(e.orderId, 'released');
      return;
    }
    if (e.channel === 'Sms' && e.status !== 'SMS_New') smsSent.add(e.notificationId);
    if (AWAITING_REPORT.has(e.status)) {
      if (e.expiresAt !== null && e.expiresAt !== undefined)
        awaiting.set(e.notificationId, { event: e, expiresAt: e.expiresAt });
    } else if (!NOT_FINAL.has(e.status)) finished.add(e.notificationId);
  });

  // held values wait as their output topic's records (see heldValues): its schema first
  await codec.register(['ordersDue', 'smsQueue', 'ordersEnriched', 'status']);
  const held = {
    orders: heldValues(codec, 'ordersDue'),
    smsWindow: heldValues(codec, 'smsQueue'),
    conditionRetry: heldValues(codec, 'ordersEnriched'),
    expiry: heldValues(codec, 'status'),
  };
  const now = clock();
  const counts: RebuildCounts = {
    orders: { waiting: 0, settled: 0 },
    smsWindow: { waiting: 0, settled: 0 },
    expiry: { waiting: 0, settled: 0 },
    conditionRetry: { waiting: 0, settled: 0 },
  };
  const tally = (c: { waiting: number; settled: number }, result: string) => {
    if (result === 'scheduled') c.waiting++;
    if (result === 'settled') c.settled++;
  };

  // orders.due too (a week of it): a release is there even if its status event is not
  await read('ordersDue', (o, r) => {
    const id = r.headers['x-schedule-id']?.toString() ?? o.orderId;
    if (!orderOutcome.has(id)) orderOutcome.set(id, 'released');
  });

  const orders = store('orders:');
  const orderWrites: Promise<void>[] = [];
  await read('orders', (o) => {
    if (o.type === 'Instant' || orderRecordProblems(o).length > 0) return;
    const outcome = orderOutcome.get(o.orderId);
    orderWrites.push(
      (outcome
        ? orders.settle(o.orderId, outcome, now)
        : orders.schedule(o.orderId, o.requestedSendTime, held.orders.encode(o))
      ).then((r) => tally(counts.orders, r)),
    );
  });
  await Promise.all(orderWrites);

  const queued = new Set<string>();
  await read('smsQueue', (n) => void queued.add(n.notificationId));
  const window = store('sms-window:');
  const smsWrites: Promise<void>[] = [];
  await read('smsPending', (n) => {
    const released = queued.has(n.notificationId) || smsSent.has(n.notificationId);
    smsWrites.push(
      (released
        ? window.settle(n.notificationId, 'released', now)
        : window.schedule(n.notificationId, releaseAt(n, now, deps.window), held.smsWindow.encode(n))
      ).then((r) => tally(counts.smsWindow, r)),
    );
  });
  await Promise.all(smsWrites);

  const expiry = store('expiry:');
  await Promise.all(
    [...awaiting].map(async ([id, { event, expiresAt }]) => {
      const result = finished.has(id)
        ? await expiry.settle(id, 'cancelled', now)
        : await expiry.schedule(
            id,
            expiresAt + config.NOTIFICATION_EXPIRY_GRACE_MS,
            held.expiry.encode(expiryEvent(event, expiresAt, config.NOTIFICATION_EXPIRY_GRACE_MS)),
          );
      tally(counts.expiry, result);
    }),
  );
  // condition re-checks: what evaluate-condition checked once, left inconclusive, and has not
  // yet checked again
  const enrichedTopic = topicName(config.TOPIC_PREFIX, 'ordersEnriched');
  const checkedBelow = new Map<number, bigint>();
  for (const p of (await kafka.topicEndOffsets(enrichedTopic)).keys()) {
    const offset = await kafka.committedOffset(
      stageGroupId(config.TOPIC_PREFIX, 'evaluate-condition'),
      enrichedTopic,
      p,
    );
    checkedBelow.set(p, BigInt(offset ?? '0'));
  }
  const firstChecks = new Map<string, { order: TopicValues['ordersEnriched']; at: number }>();
  const rechecked = new Set<string>();
  await read('ordersEnriched', (e, r) => {
    if (e.conditionChecks >= 1) return void rechecked.add(e.orderId);
    if (BigInt(r.offset) >= (checkedBelow.get(r.partition) ?? 0n)) return;
    const order = orderOf(e);
    if (order.conditionEndpoint) firstChecks.set(e.orderId, { order: e, at: Number(r.timestamp) });
  });
  const approved = new Set<string>();
  await read('ordersApproved', (e) => void approved.add(e.orderId));
  const retries = store('condition-retry:');
  await Promise.all(
    [...firstChecks].map(async ([id, { order, at }]) => {
      if (approved.has(id) || conditionNotMet.has(id)) return;
      const result = rechecked.has(id)
        ? await retries.settle(id, 'released', now)
        : await retries.schedule(
            id,
            Math.max(now, at + config.CONDITION_RETRY_DELAY_MS),
            held.conditionRetry.encode({ ...order, conditionChecks: order.conditionChecks + 1 }),
          );
      tally(counts.conditionRetry, result);
    }),
  );
  return counts;
}
