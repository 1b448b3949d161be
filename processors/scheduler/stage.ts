import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { orderStatus } from '../../platform/status.ts';
import { permanent } from '../../platform/errors.ts';
import {
  DISPATCHED_HEADER,
  orderIdentityProblems,
  orderRecordProblems,
} from '../../platform/validation/order-record.ts';
import type { PaceItem } from '../../platform/redis/fair-share.ts';
import { dead, deadWith, defer, defineStage, skip, type Outcome, type Stage } from '../runtime/stage.ts';

/** The fair share of the senders (`FairShare`), as the scheduler uses it. */
export interface Pacer {
  paces(channel: 'email' | 'sms'): boolean;
  pace(items: readonly PaceItem[], now: number): Promise<number[]>;
}

/** When an order may go, and for one its creator's pace holds, the channel that holds it. */
interface Pacing {
  until: number;
  lane?: { name: 'email' | 'sms'; cost: number };
}

/**
 * What an order asks of the senders, per channel: a notification per recipient (an organisation
 * counts as one: its contact points are known only after enrich-recipients), on its channel, or
 * on the preferred one.
 */
export function paceItems(order: NotificationOrder): PaceItem[] {
  const base = { creator: order.creator, cost: Math.max(1, order.recipients.length), at: order.requestedSendTime };
  switch (order.notificationChannel) {
    case 'Email':
    case 'EmailPreferred':
      return [{ ...base, channel: 'email' }];
    case 'Sms':
    case 'SmsPreferred':
      return [{ ...base, channel: 'sms' }];
    case 'EmailAndSms':
      return [
        { ...base, channel: 'email' },
        { ...base, channel: 'sms' },
      ];
  }
}

/**
 * scheduler: an order (main notification or reminder) waits until its requestedSendTime, then
 * goes to orders.due with its Order_Processing event. It is a `defer` until the send time: the
 * runtime holds it in the scheduler's schedule store and its releaser writes it when due; one
 * due already is written in this record's own transaction (see `Deferrals`). Either way the
 * store decides, so nothing is released twice when the orders topic is replayed, and a
 * cancellation sees the order as waiting, in flight or released. The order is registered
 * (Order_Registered) with the decision.
 *
 * With a fair share (`pacer`, FAIR_SHARE_*), an order whose creator is over its share of a
 * channel's rate waits longer: until its creator's pace reaches it. The decision stays pure for
 * a batch (its pacing is asked in `prepare`); a record whose pacing was not asked there asks on
 * its own.
 */
export function schedulerStage(ports: { clock: () => number; pacer?: Pacer }): Stage<'orders'> {
  const { pacer } = ports;
  /**
   * the orders of a batch whose creator's fair share was asked already: when each may go, and
   * for one held past its send time, the channel whose pace holds it and its cost there
   */
  const paced = new WeakMap<NotificationOrder, Pacing>();
  const itemsOf = (order: NotificationOrder) => (pacer ? paceItems(order).filter((i) => pacer.paces(i.channel)) : []);
  /** whether the order is registered (and so paced), not refused */
  const registers = (order: NotificationOrder) =>
    order.type !== 'Instant' && orderIdentityProblems(order).length === 0 && orderRecordProblems(order).length === 0;
  /** asks the fair share for these orders (one round trip per channel) and keeps the answers */
  const pace = async (orders: NotificationOrder[]) => {
    const items = orders.map((o) => itemsOf(o));
    const flat = items.flat();
    if (flat.length === 0) return;
    const until = await pacer!.pace(flat, ports.clock());
    let k = 0;
    orders.forEach((order, i) => {
      const p: Pacing = { until: order.requestedSendTime };
      for (const item of items[i]!) {
        const at = until[k++]!;
        if (at > p.until) Object.assign(p, { until: at, lane: { name: item.channel, cost: item.cost } });
      }
      paced.set(order, p);
    });
  };
  // A paced order waits in its channel's gated lane: the releaser lets it go at its pace's slot
  // and only while that channel's senders are not too far behind (the gate, see `SendGate`).
  const register = (order: NotificationOrder, p: Pacing): Outcome =>
    defer({
      id: order.orderId,
      until: p.until,
      value: order,
      reason: p.lane ? 'paced: its creator is over its fair share' : 'waits for its send time',
      also: [{ topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Registered', ports.clock()) }],
      ...(p.lane ? { lane: p.lane } : {}),
    });
  return defineStage({
    name: 'scheduler',
    input: 'orders',
    outputs: ['status', 'ordersDue'],
    pure: true,
    defer: {
      name: 'scheduler',
      keyPrefix: 'orders:',
      output: 'ordersDue',
      alsoEmit: (value, now) => {
        const order = value as NotificationOrder;
        return [{ topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Processing', now) }];
      },
    },
    // The fair share is asked for a whole batch at once; a record it could not be asked for
    // (a batch of one, or the batch's ask failed) asks on its own.
    ...(pacer ? { prepare: (orders: NotificationOrder[]) => pace(orders.filter(registers)) } : {}),
    handle(order: NotificationOrder, ctx) {
      // Ids that no status event or API read could carry: dead-lettered, and nothing else is
      // written about the record (a status event with such an id would break Avro readers).
      const identity = orderIdentityProblems(order);
      if (identity.length > 0) return dead(permanent('INVALID_RECORD', `order refused: ${identity.join('; ')}`));
      // Instant orders were dispatched by the gateway, in the transaction that wrote them here;
      // one without the gateway's mark came from elsewhere and was dispatched by no one.
      const rejected = (reason: string) =>
        deadWith(permanent('INVALID_RECORD', reason), {
          topic: 'status',
          key: order.orderId,
          value: orderStatus(order, 'Order_Rejected', ports.clock(), reason),
        });
      if (order.type === 'Instant') {
        if (ctx.headers[DISPATCHED_HEADER] !== undefined) return skip('instant order: already dispatched');
        return rejected(
          'instant orders are placed through the gateway (POST /future/orders/instant/sms or /email); publish type Notification to order directly',
        );
      }
      // A direct producer's record that breaks a rule stops here: dead-lettered with the reason,
      // and the order gets a final Order_Rejected status its sender can read.
      const problems = orderRecordProblems(order);
      if (problems.length > 0) return rejected(`order breaks the rules: ${problems.join('; ')}`);
      // The pipeline registers an order here, wherever it came from (gateway or direct producer),
      // to go at its send time, or later while its creator is over its fair share.
      const p = paced.get(order);
      if (p !== undefined || itemsOf(order).length === 0)
        return register(order, p ?? { until: order.requestedSendTime });
      return pace([order]).then(() => register(order, paced.get(order)!));
    },
  });
}
