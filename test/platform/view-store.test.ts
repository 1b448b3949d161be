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

/** The gateway records an instant order with putOrderAndApply: one round trip, the same view. */
describe('status view: an order and its events in one round trip', () => {
  const redis = testRedis();
  afterAll(() => redis.disconnect());

  it('leaves the view as putOrder and each apply awaited in turn do, and a second put changes nothing', async () => {
    const [one, turn] = [
      new ViewStore(redis, uniquePrefix('view-one')),
      new ViewStore(redis, uniquePrefix('view-turn')),
    ];
    const order = sampleOrder(1, { sendersReference: 'ref-1' });
    const at = Date.now();
    const events = [
      { ...orderStatus(order, 'Email_New', at), notificationId: randomUUID(), channel: 'Email' as const },
      orderStatus(order, 'Order_Processed', at + 1),
    ];
    const first = await one.putOrderAndApply(order, { status: 'Order_Processed', at }, events, at);
    await turn.putOrder(order, { status: 'Order_Processed', at });
    const inTurn = [];
    for (const e of events) inTurn.push(await turn.apply(e, at));

    expect(first.fresh).toBe(true);
    expect(first.applied).toEqual(inTurn);
    const viewed = await one.get(order.orderId);
    expect(viewed?.notifications.map((n) => n.status)).toEqual(['Email_New']);
    expect(viewed).toEqual(await turn.get(order.orderId));
    expect(await one.bySendersReference(order.creator, 'ref-1')).toEqual(
      await turn.bySendersReference(order.creator, 'ref-1'),
    );

    const again = await one.putOrderAndApply(order, { status: 'Order_Registered', at: at + 5 }, [], at + 5);
    expect(again).toEqual({ fresh: false, applied: [] });
    expect((await one.get(order.orderId))?.status).toBe(viewed?.status);
  });
});
