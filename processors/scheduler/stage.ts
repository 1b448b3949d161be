import type { ScheduleResult, ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { orderStatus } from '../../platform/status.ts';
import { permanent } from '../../platform/errors.ts';
import { orderRecordProblems } from '../../platform/validation/order-record.ts';
import { deadWith, defineStage, emit, skip, type Stage } from '../runtime/stage.ts';

/**
 * scheduler: every order (main notification or reminder) waits in the schedule store until its
 * requestedSendTime, past-due ones included, so one path decides what is released and nothing
 * is released twice when the orders topic is replayed. A newly scheduled order gets its
 * Order_Registered status event; the releaser publishes due orders to orders.due with their
 * Order_Processing event.
 */
/** How an order waits in the schedule store (the releaser publishes it from this). */
export const orderPayload = (o: NotificationOrder) => Buffer.from(JSON.stringify(o));

export function schedulerStage(ports: {
  store: ScheduleStore;
  clock: () => number;
  onDue: () => void;
}): Stage<'orders'> {
  // keyed by the decoded record itself: partitions prepare their batches concurrently
  const prepared = new WeakMap<NotificationOrder, ScheduleResult>();
  const payload = orderPayload;
  return defineStage({
    name: 'scheduler',
    input: 'orders',
    outputs: ['status'],
    // One pipelined round trip to Redis for the batch instead of one per order.
    async prepare(orders: NotificationOrder[]) {
      await Promise.all(
        orders
          .filter((o) => o.type !== 'Instant' && orderRecordProblems(o).length === 0)
          .map(async (o) => {
            prepared.set(o, await ports.store.schedule(o.orderId, o.requestedSendTime, payload(o)));
          }),
      );
    },
    async handle(order: NotificationOrder) {
      // Instant orders were dispatched by the gateway, in the transaction that wrote them here.
      if (order.type === 'Instant') return skip('instant order: already dispatched');
      // A direct producer's record that breaks a rule stops here: dead-lettered with the reason,
      // and the order gets a final Order_Rejected status its sender can read.
      const problems = orderRecordProblems(order);
      if (problems.length > 0) {
        const reason = `order breaks the rules: ${problems.join('; ')}`;
        return deadWith(permanent('INVALID_RECORD', reason), {
          topic: 'status',
          key: order.orderId,
          value: orderStatus(order, 'Order_Rejected', ports.clock(), reason),
        });
      }
      const cached = prepared.get(order);
      prepared.delete(order);
      const result = cached ?? (await ports.store.schedule(order.orderId, order.requestedSendTime, payload(order)));
      if (order.requestedSendTime <= ports.clock()) ports.onDue();
      // The pipeline registers an order here, wherever it came from (gateway or direct producer).
      // 'rescheduled' too: after a crash between the Redis write and the transaction, the replay
      // finds the order waiting and must still report it (the view takes a repeat in its stride).
      if (result === 'scheduled' || result === 'rescheduled') {
        return emit({
          topic: 'status',
          key: order.orderId,
          value: orderStatus(order, 'Order_Registered', ports.clock()),
        });
      }
      return skip(`schedule: ${result}`);
    },
  });
}
