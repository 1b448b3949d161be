import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { orderStatus } from '../../platform/status.ts';
import { permanent } from '../../platform/errors.ts';
import {
  DISPATCHED_HEADER,
  orderIdentityProblems,
  orderRecordProblems,
} from '../../platform/validation/order-record.ts';
import { dead, deadWith, defer, defineStage, skip, type Stage } from '../runtime/stage.ts';

/**
 * scheduler: an order (main notification or reminder) waits until its requestedSendTime, then
 * goes to orders.due with its Order_Processing event. It is a `defer` until the send time: the
 * runtime holds it in the scheduler's schedule store and its releaser writes it when due; one
 * due already is written in this record's own transaction (see `Deferrals`). Either way the
 * store decides, so nothing is released twice when the orders topic is replayed, and a
 * cancellation sees the order as waiting, in flight or released. The order is registered
 * (Order_Registered) with the decision.
 */
export function schedulerStage(ports: { clock: () => number }): Stage<'orders'> {
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
      // The pipeline registers an order here, wherever it came from (gateway or direct producer).
      return defer({
        id: order.orderId,
        until: order.requestedSendTime,
        value: order,
        reason: 'waits for its send time',
        also: [{ topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Registered', ports.clock()) }],
      });
    },
  });
}
