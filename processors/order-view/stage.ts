import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { orderIdentityProblems } from '../../platform/validation/order-record.ts';
import type { ViewStore } from '../../platform/view/store.ts';
import { defineStage, skip, type Stage } from '../runtime/stage.ts';

/**
 * order-view: keeps every order (from the gateway or a direct producer) readable by the API.
 * The first version of an order wins, so a replay or a re-published record changes nothing.
 */
export function orderViewStage(ports: { view: ViewStore }): Stage<'orders'> {
  // a batch's orders recorded ahead in one round trip (see prepare), by order
  const recordedAhead = new WeakMap<NotificationOrder, boolean>();
  // the scheduler dead-letters such a record; nothing is written about it here either
  const refused = (order: NotificationOrder) => orderIdentityProblems(order).length > 0;
  return defineStage({
    name: 'order-view',
    input: 'orders',
    outputs: [],
    // One pipeline (and, with REDIS_WAIT_REPLICAS, one wait for the replicas) per batch instead
    // of one round trip per order: the first version of an order wins, so one recorded here and
    // again later (its batch handled again) changes nothing. An order whose run failed here, or
    // whose batch's wait did, is recorded by `handle` itself.
    async prepare(orders: NotificationOrder[]) {
      const valid = orders.filter((o) => !refused(o));
      const fresh = await ports.view.putOrders(valid);
      fresh.forEach((f, i) => {
        if (!(f instanceof Error)) recordedAhead.set(valid[i]!, f);
      });
    },
    async handle(order: NotificationOrder) {
      if (refused(order)) return skip('order refused: its ids are not canonical UUIDs');
      const fresh = recordedAhead.get(order) ?? (await ports.view.putOrder(order));
      return skip(fresh ? 'order recorded' : 'order already recorded');
    },
  });
}
