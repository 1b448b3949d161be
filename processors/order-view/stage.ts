import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { orderIdentityProblems } from '../../platform/validation/order-record.ts';
import type { ViewStore } from '../../platform/view/store.ts';
import { defineStage, skip, type Stage } from '../runtime/stage.ts';

/**
 * order-view: keeps every order (from the gateway or a direct producer) readable by the API.
 * The first version of an order wins, so a replay or a re-published record changes nothing.
 */
export function orderViewStage(ports: { view: ViewStore }): Stage<'orders'> {
  return defineStage({
    name: 'order-view',
    input: 'orders',
    outputs: [],
    async handle(order: NotificationOrder) {
      // the scheduler dead-letters such a record; nothing is written about it here either
      if (orderIdentityProblems(order).length > 0) return skip('order refused: its ids are not canonical UUIDs');
      const fresh = await ports.view.putOrder(order);
      return skip(fresh ? 'order recorded' : 'order already recorded');
    },
  });
}
