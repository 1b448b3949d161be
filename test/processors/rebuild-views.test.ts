import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import { AvroCodec } from '../../platform/schemas/codec.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import { topicName } from '../../platform/topics.ts';
import { ViewStore, type OrderView } from '../../platform/view/store.ts';
import { orderViewStage } from '../../processors/order-view/stage.ts';
import { rebuildViews } from '../../processors/rebuild-views.ts';
import { stageGroupId } from '../../processors/runtime/runner.ts';
import { statusViewStage } from '../../processors/status-view/stage.ts';
import {
  eventually,
  publish,
  sampleOrder,
  testClients,
  testConfig,
  testRedis,
  testRunner,
  uniquePrefix,
} from '../support/stack.ts';

/**
 * `./dev rebuild-views` (processors/rebuild-views.ts) on the real stack: order-view and
 * status-view build the view from the topics, including a record each cannot decode (which they
 * dead-letter) and an order whose ids they refuse; then the view is rebuilt from the topics up
 * to their committed offsets. Before 2026-12-04 one undecodable record stopped the rebuild after
 * it had deleted the view, and `./dev` left every stage stopped.
 */
describe('rebuilding the status view from the topics', () => {
  const prefix = uniquePrefix('rebuild-views');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '2' });
  const { kafka, codec, logger } = testClients(config);
  const redis = testRedis();
  const view = new ViewStore(redis, prefix, config.VIEW_RETENTION_S * 1000);
  const deps = { kafka, codec, logger, config };
  const stages = [
    testRunner(orderViewStage({ view }), deps),
    testRunner(statusViewStage({ view, clock: Date.now }), deps),
  ];

  const completed = sampleOrder(1, { creator: 'ttd' });
  const processing = sampleOrder(2, { creator: 'ttd' });
  const refused = sampleOrder(3, { orderId: 'not-a-uuid' });
  const email = randomUUID();
  const event = (orderId: string, status: StatusEvent['status']): StatusEvent =>
    orderStatus({ orderId, creator: 'ttd' }, status, Date.now());
  const emailEvent = (status: StatusEvent['status']): StatusEvent => ({
    ...event(completed.orderId, status),
    notificationId: email,
    channel: 'Email',
    destination: 'kari@example.com',
  });

  /** garbage on one of this test's topics, as a producer that ignores the schema might write */
  async function garbage(topic: 'orders' | 'status') {
    const producer = await kafka.plainProducer();
    try {
      await producer.send([{ topic: topicName(prefix, topic), key: 'junk', value: Buffer.from('this is not avro') }]);
    } finally {
      await producer.close();
    }
  }

  /** every record of `topic` committed by `stage` (the end offsets may be past a transaction's marker) */
  async function caughtUp(topic: 'orders' | 'status', stage: string): Promise<boolean> {
    const name = topicName(prefix, topic);
    const past = new Map<number, bigint>();
    await kafka.readSince(name, 0, (r) => past.set(r.partition, BigInt(r.offset) + 1n));
    for (const [p, offset] of past) {
      if (BigInt((await kafka.committedOffset(stageGroupId(prefix, stage), name, p)) ?? '0') < offset) return false;
    }
    return true;
  }

  /** what a read shows of an order, but the feed's sequence and time (a rebuild hands out new ones) */
  const shown = (v: OrderView | null) => v && { ...v, feedSeq: v.feedSeq !== null, feedAt: v.feedAt !== null };

  beforeAll(async () => {
    await provision(kafka, codec, config);
    for (const s of stages) await s.start();
    await Promise.all(stages.map((s) => s.joined()));
    await publish(
      kafka,
      codec,
      prefix,
      'orders',
      [completed, processing, refused].map((o) => ({ key: o.orderId, value: o })),
    );
    await garbage('orders');
    await publish(
      kafka,
      codec,
      prefix,
      'status',
      [
        event(completed.orderId, 'Order_Processing'),
        emailEvent('Email_New'),
        event(completed.orderId, 'Order_Processed'),
        emailEvent('Email_Succeeded'),
        emailEvent('Email_Delivered'),
        event(processing.orderId, 'Order_Processing'),
      ].map((e) => ({ key: e.orderId, value: e })),
    );
    await garbage('status');
    // status-view completes the order (its Order_Completed goes to the status topic) and commits
    await eventually(
      async () =>
        (await view.get(completed.orderId))?.status === 'Order_Completed' &&
        (await caughtUp('orders', 'order-view')) &&
        (await caughtUp('status', 'status-view')),
      'the view built and both stages committed to the end',
      60_000,
    );
    for (const s of stages) await s.close();
  }, 120_000);

  afterAll(async () => {
    await kafka.deleteTopicsWithPrefix(prefix);
    await kafka.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('leaves the view as it was when the records cannot be read (here, the schema registry is unreachable)', async () => {
    const before = await view.get(completed.orderId);
    const unreachable = new AvroCodec('http://127.0.0.1:9', prefix);
    await expect(rebuildViews({ kafka, codec: unreachable, redis, config })).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
    });
    expect(await view.get(completed.orderId)).toEqual(before);
  });

  it('builds again what the stages built, up to their committed offsets, skipping what they skipped', async () => {
    const before = { completed: await view.get(completed.orderId), processing: await view.get(processing.orderId) };
    expect(before.completed).toMatchObject({
      status: 'Order_Completed',
      notifications: [{ status: 'Email_Delivered' }],
    });
    expect(before.processing?.status).toBe('Order_Processing');
    expect(before.completed?.feedSeq).not.toBeNull();
    // after the stages stopped: an order only in Redis (the rebuild drops it), and an event past
    // status-view's committed offsets (left for the stage, which goes on from there)
    const stray = sampleOrder(4);
    await view.putOrder(stray);
    await publish(kafka, codec, prefix, 'status', [
      { key: processing.orderId, value: event(processing.orderId, 'Order_Cancelled') },
    ]);

    const counts = await rebuildViews({ kafka, codec, redis, config });

    expect(counts).toMatchObject({
      orders: 2,
      // the six published and the Order_Completed status-view wrote
      events: 7,
      skipped: { orders: 2, status: 1 },
    });
    expect(counts.removed).toBeGreaterThan(0);
    expect(await view.get(stray.orderId)).toBeNull();
    expect(await view.get(refused.orderId)).toBeNull();
    const after = await view.get(completed.orderId);
    expect(shown(after)).toEqual(shown(before.completed));
    // the feed's sequence keeps increasing across a rebuild: a reader sees the order again, never misses it
    expect(after!.feedSeq!).toBeGreaterThan(before.completed!.feedSeq!);
    expect(
      (await view.feed('ttd', { seq: 0, pageSize: 10, order: 'asc', visibleBefore: Date.now() + 10_000 })).map(
        (v) => v.order.orderId,
      ),
    ).toEqual([completed.orderId]);
    expect(shown(await view.get(processing.orderId))).toEqual(shown(before.processing));
  });
});
