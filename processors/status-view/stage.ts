import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import type { ViewStore } from '../../platform/view/store.ts';
import { defineStage, emit, skip, type Stage } from '../runtime/stage.ts';

/**
 * status-view: applies every status event to the read model (order status and lifecycle, each
 * notification's status, the status feed), and completes orders (§9): once an order is
 * Processed and none of its notifications is pending (email New/Sending/Succeeded, SMS
 * New/Sending/Accepted), it emits Order_Completed, which it then applies like any event.
 *
 * The Redis writes are idempotent and monotonic, so a replay after a crash converges; an
 * Order_Completed whose transaction was aborted is emitted again on the replay.
 */
export function statusViewStage(ports: { view: ViewStore; clock: () => number }): Stage<'status'> {
  // Orders this process already completed: a second final notification event of one order in
  // the same run must not emit a second Order_Completed before the first is read back.
  const completing = new Set<string>();
  return defineStage({
    name: 'status-view',
    input: 'status',
    outputs: ['status'],
    async handle(event: StatusEvent) {
      const result = await ports.view.apply(event, ports.clock());
      if (event.status === 'Order_Completed') completing.delete(event.orderId);
      if (result !== 'complete' || completing.has(event.orderId)) return skip(`applied (${result})`);
      completing.add(event.orderId);
      if (completing.size > 100_000) completing.delete(completing.values().next().value as string);
      return emit({
        topic: 'status',
        key: event.orderId,
        value: orderStatus(event, 'Order_Completed', ports.clock()),
      });
    },
  });
}
