import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
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
      const fresh = await ports.view.putOrder(order);
      return skip(fresh ? 'order recorded' : 'order already recorded');
    },
  });
}
