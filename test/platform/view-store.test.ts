import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { orderStatus } from '../../platform/status.ts';
import { ViewStore } from '../../platform/view/store.ts';
import { sampleOrder, testRedis, uniquePrefix } from '../support/stack.ts';

/** The view's rebuild (`scripts/rebuild-views.ts`) starts from `clear()` (on the stack's Redis). */
describe('status view: clear for a rebuild', () => {
  const redis = testRedis();
  afterAll(() => redis.disconnect());

  it("deletes every key of the view's environment but the feed's sequence, and nothing of another's", async () => {
    const prefix = uniquePrefix('view-clear');
    const other = uniquePrefix('view-keep');
    const view = new ViewStore(redis, prefix);
    const kept = new ViewStore(redis, other);
    // more orders than one SCAN batch (1,000 keys asked for at a time)
    const orders = Array.from({ length: 700 }, (_, i) => sampleOrder(i, { sendersReference: `ref-${i % 7}` }));
    for (const o of orders) {
      await view.putOrder(o, { status: 'Order_Registered', at: Date.now() });
      await view.apply(
        { ...orderStatus(o, 'Email_New', Date.now()), notificationId: randomUUID(), channel: 'Email' },
        Date.now(),
      );
      await view.apply(orderStatus(o, 'Order_Completed', Date.now()), Date.now());
    }
    await kept.putOrder(orders[0]!);
    const before = await redis.keys(`${prefix}view:*`);
    expect(before.length).toBeGreaterThan(1_400);

    const removed = await view.clear();

    expect(removed).toBe(before.length - 1);
    expect(await redis.keys(`${prefix}view:*`)).toEqual([`${prefix}view:feedseq`]);
    expect(await redis.get(`${prefix}view:feedseq`)).toBe('700');
    expect(await view.get(orders[0]!.orderId)).toBeNull();
    expect((await kept.get(orders[0]!.orderId))?.order.orderId).toBe(orders[0]!.orderId);
  });
});
