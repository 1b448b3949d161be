import { retriable } from '../../platform/errors.ts';
import type { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { defineStage, skip, type Stage } from '../runtime/stage.ts';

/**
 * scheduler: every order (main notification or reminder) waits in the schedule store until its
 * requestedSendTime, past-due ones included, so one path decides what is released and nothing
 * is released twice when the orders topic is replayed. The releaser publishes due orders to
 * orders.due.
 */
export function schedulerStage(ports: {
  store: ScheduleStore;
  clock: () => number;
  onDue: () => void;
}): Stage<'orders'> {
  return defineStage({
    name: 'scheduler',
    input: 'orders',
    outputs: [],
    async handle(order: NotificationOrder) {
      let result: string;
      try {
        result = await ports.store.schedule(order.orderId, order.requestedSendTime, Buffer.from(JSON.stringify(order)));
      } catch (err) {
        throw retriable('DEPENDENCY_UNAVAILABLE', `schedule store: ${(err as Error).message}`, err);
      }
      if (order.requestedSendTime <= ports.clock()) ports.onDue();
      return skip(`schedule: ${result}`);
    },
  });
}
