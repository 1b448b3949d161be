import {
  mayPublish,
  PassedOn,
  type PassResult,
  type ScheduleResult,
  type ScheduleStore,
} from '../../platform/redis/schedule-store.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { orderStatus } from '../../platform/status.ts';
import { permanent } from '../../platform/errors.ts';
import {
  DISPATCHED_HEADER,
  orderIdentityProblems,
  orderRecordProblems,
} from '../../platform/validation/order-record.ts';
import { dead, deadWith, defineStage, emit, recordSource, skip, type Stage } from '../runtime/stage.ts';

/**
 * scheduler: an order (main notification or reminder) whose requestedSendTime is still ahead
 * waits in the schedule store until then, and the releaser publishes it to orders.due with its
 * Order_Processing event. One that is due already passes at once: the stage claims it in the
 * store for its input record and publishes it to orders.due itself, in the transaction that
 * commits that record, and marks it released once that commits (see `ScheduleStore.pass`).
 * Either way the store decides, so nothing is released twice when the orders topic is replayed,
 * and a cancellation sees the order as waiting, in flight or released.
 */
/** How an order waits in the schedule store (the releaser publishes it from this). */
export const orderPayload = (o: NotificationOrder) => Buffer.from(JSON.stringify(o));

type Decision = { kind: 'pass'; result: PassResult } | { kind: 'schedule'; result: ScheduleResult };

export function schedulerStage(ports: {
  store: ScheduleStore;
  clock: () => number;
  onDue: () => void;
}): Stage<'orders'> {
  // keyed by the decoded record itself: partitions prepare their batches concurrently
  const prepared = new WeakMap<NotificationOrder, Decision>();
  // orders this stage publishes itself, to be marked released once their transaction commits
  const passing = new PassedOn<NotificationOrder>(ports.store, (o) => o.orderId, ports.clock);
  const decide = async (o: NotificationOrder, source: string): Promise<Decision> => {
    const now = ports.clock();
    return o.requestedSendTime <= now
      ? { kind: 'pass', result: await ports.store.pass(o.orderId, o.requestedSendTime, orderPayload(o), source, now) }
      : { kind: 'schedule', result: await ports.store.schedule(o.orderId, o.requestedSendTime, orderPayload(o)) };
  };
  const schedulable = (o: NotificationOrder) => o.type !== 'Instant' && orderRecordProblems(o).length === 0;
  return defineStage({
    name: 'scheduler',
    input: 'orders',
    outputs: ['status', 'ordersDue'],
    // The batch's due orders are claimed in a few script runs (`passMany`), the others scheduled
    // one by one in pipelined calls; `handle` then answers at once, off the promise path.
    async prepare(orders: NotificationOrder[], sources: string[]) {
      const now = ports.clock();
      const due: Parameters<typeof passing.claimAll>[0][number][] = [];
      const later: Promise<void>[] = [];
      orders.forEach((o, i) => {
        if (!schedulable(o)) return;
        if (o.requestedSendTime <= now) {
          due.push({ value: o, dueAt: o.requestedSendTime, payload: orderPayload(o), source: sources[i]! });
        } else later.push(decide(o, sources[i]!).then((d) => void prepared.set(o, d)));
      });
      await Promise.all([passing.claimAll(due, now), ...later]);
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
      const claimed = passing.claimed(order);
      const decision: Decision | undefined = claimed ? { kind: 'pass', result: claimed } : prepared.get(order);
      if (decision === undefined) return decide(order, recordSource(ctx)).then(outcome);
      prepared.delete(order);
      return outcome(decision);

      function outcome(decision: Decision) {
        if (decision.kind === 'pass') {
          if (!mayPublish(decision.result)) return skip(`schedule: ${decision.result}`);
          passing.add(order);
          const now = ports.clock();
          return emit(
            { topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Registered', now) },
            { topic: 'ordersDue', key: order.orderId, value: order },
            { topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Processing', now) },
          );
        }
        if (order.requestedSendTime <= ports.clock()) ports.onDue();
        // The pipeline registers an order here, wherever it came from (gateway or direct producer).
        // 'rescheduled' too: after a crash between the Redis write and the transaction, the replay
        // finds the order waiting and must still report it (the view takes a repeat in its stride).
        if (decision.result === 'scheduled' || decision.result === 'rescheduled') {
          return emit({
            topic: 'status',
            key: order.orderId,
            value: orderStatus(order, 'Order_Registered', ports.clock()),
          });
        }
        return skip(`schedule: ${decision.result}`);
      }
    },
    committed: (orders: NotificationOrder[]) => passing.committed(orders),
  });
}
