import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { IdempotencyStore } from '../../gateway/orders/idempotency.ts';
import { createRegistry } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { orderStatus } from '../../platform/status.ts';
import { chainIdOf, mainOrderId } from '../../platform/ids.ts';
import { loadSchema } from '../../platform/schemas/codec.ts';
import avro from 'avsc';
import { encodeOrder, METRICS_RETENTION_MS, VIEW_ORDER_FIELDS, ViewStore } from '../../platform/view/store.ts';
import { Releaser } from '../../processors/runtime/releaser.ts';
import { eventually, sampleOrder, testClients, testConfig, uniquePrefix, testRedis } from '../support/stack.ts';

/** the view's pinned order format, to write an order as the view stored it before (both ids kept) */
const orderSchema = loadSchema('order') as { fields: { name: string }[] };
const orderType = avro.Type.forSchema({
  ...orderSchema,
  fields: orderSchema.fields.filter((f) => (VIEW_ORDER_FIELDS as readonly string[]).includes(f.name)),
} as avro.Schema);

/** Issue 17 item 7: nothing an order leaves in Redis stays for ever, and the view is compact. */
describe('Redis retention', () => {
  const redis = testRedis();
  afterAll(() => redis.disconnect());

  it('keeps an order view, its notifications, chain, reference and feed entry for the retention after the last update', async () => {
    const prefix = uniquePrefix('ret-view');
    const view = new ViewStore(redis, prefix, 1_500);
    const o = sampleOrder(1, { sendersReference: 'ref-ret' });
    await view.putOrder(o, { status: 'Order_Registered', at: Date.now() });
    const notificationId = randomUUID();
    for (const [status, extra] of [
      ['Email_New', { expiresAt: Date.now() + 60_000 }],
      ['Email_Succeeded', { gatewayReference: '<m@mx>' }],
      ['Email_Delivered', {}],
    ] as const)
      await view.apply(
        {
          ...orderStatus(o, status, Date.now()),
          notificationId,
          channel: 'Email',
          destination: 'a@example.com',
          ...extra,
        },
        Date.now(),
      );
    await view.apply(orderStatus(o, 'Order_Completed', Date.now()), Date.now());
    const keys = await redis.keys(`${prefix}view:*`);
    // order (with its notifications), chain (its id is not derived from the chain's), reference,
    // feed (and the feed's sequence counter, kept), the day's export set, and its month's
    // metrics, kept for years
    expect(keys.length).toBe(7);
    expect(keys.filter((k) => k.includes('view:daily:e:'))).toHaveLength(1);
    // a final notification's entry does not keep its expiry (nothing waits for it) nor, moved to
    // the day's set, the gateway's reference: the order's hash is as small as it was
    const entry = JSON.parse((await redis.hget(`${prefix}view:o:{${o.orderId}}`, `#${notificationId}`))!) as object;
    expect(Object.keys(entry).sort()).toEqual(['d', 's', 'u']);
    for (const k of keys.filter((k) => !k.endsWith('feedseq'))) {
      const ttl = await redis.pttl(k);
      expect(ttl, k).toBeGreaterThan(0);
      if (k.includes('view:metrics:')) expect(ttl, k).toBeGreaterThan(METRICS_RETENTION_MS - 60_000);
      else expect(ttl, k).toBeLessThanOrEqual(1_500);
    }
    expect((await view.feed('ttd', { seq: 0, pageSize: 10, order: 'asc', visibleBefore: Date.now() + 1 })).length).toBe(
      1,
    );
    await eventually(async () => (await view.get(o.orderId)) === null, 'the view to expire', 10_000);
    expect(await view.bySendersReference('ttd', 'ref-ret')).toEqual([]);
    expect(await view.feed('ttd', { seq: 0, pageSize: 10, order: 'asc', visibleBefore: Date.now() })).toEqual([]);
  });

  it('drops feed entries whose order expired as new entries arrive', async () => {
    const prefix = uniquePrefix('ret-feed');
    const short = new ViewStore(redis, prefix, 1_000);
    const old = sampleOrder(1);
    await short.putOrder(old);
    await short.apply(orderStatus(old, 'Order_Completed', Date.now()), Date.now());
    await eventually(
      async () => (await redis.exists(`${prefix}view:o:{${old.orderId}}`)) === 0,
      'the old order to expire',
      10_000,
    );
    const fresh = sampleOrder(2);
    const long = new ViewStore(redis, prefix, 60_000);
    await long.putOrder(fresh);
    await long.apply(orderStatus(fresh, 'Order_Completed', Date.now()), Date.now());
    expect(await redis.zrange(`${prefix}view:feed:ttd`, 0, -1)).toEqual([fresh.orderId]);
  });

  it('stores an order as Avro, about a third of its JSON, and still reads an order stored as JSON', async () => {
    const prefix = uniquePrefix('ret-avro');
    const view = new ViewStore(redis, prefix);
    const o = sampleOrder(1);
    await view.putOrder(o);
    const stored = await redis.hgetBuffer(`${prefix}view:o:{${o.orderId}}`, 'order');
    // without its orderId (the key has it): the chain id, a direct producer's own, is kept
    expect(stored![0]).toBe(0x00);
    expect(stored!.includes(Buffer.from(o.orderId))).toBe(false);
    expect(stored!.includes(Buffer.from(o.orderChainId))).toBe(true);
    expect(stored!.length).toBe(encodeOrder(o).length);
    expect(stored!.length).toBeLessThan(JSON.stringify(o).length / 2);
    expect((await view.get(o.orderId))?.order).toEqual(o);
    // a gateway's order, whose chain id derives from (creator, idempotencyId), keeps neither id
    const chainId = chainIdOf('ttd', 'idem-3');
    const derived = sampleOrder(3, { orderChainId: chainId, orderId: mainOrderId(chainId) });
    await view.putOrder(derived);
    const compact = await redis.hgetBuffer(`${prefix}view:o:{${derived.orderId}}`, 'order');
    expect(compact!.length).toBe(encodeOrder(o).length - 36);
    expect((await view.get(derived.orderId))?.order).toEqual(derived);
    // an order stored as Avro with both ids, as written before, is read as it was
    const withIds = sampleOrder(4);
    await redis.hset(`${prefix}view:o:{${withIds.orderId}}`, 'order', orderType.toBuffer(withIds));
    expect((await view.get(withIds.orderId))?.order).toEqual(withIds);
    // a field added to the order since is not stored (reads do not show it): read as its default
    const asked = sampleOrder(5, { fallbackOnDeliveryFailure: true });
    await view.putOrder(asked);
    expect((await view.get(asked.orderId))?.order).toEqual({ ...asked, fallbackOnDeliveryFailure: null });
    const legacy = sampleOrder(2);
    await redis.hset(`${prefix}view:o:{${legacy.orderId}}`, 'order', JSON.stringify(legacy), 'creator', 'ttd');
    await redis.hset(
      `${prefix}view:n:{${legacy.orderId}}`,
      'n1',
      JSON.stringify({ channel: 'Email', destination: 'a@b.no', status: 'Email_New', description: '', lastUpdate: 5 }),
    );
    expect(await view.get(legacy.orderId)).toMatchObject({
      order: legacy,
      notifications: [{ id: 'n1', channel: 'Email', destination: 'a@b.no', status: 'Email_New', lastUpdate: 5 }],
    });
  });

  it('keeps no chain set for a chain whose only order is its derived main order, and still reads the chain', async () => {
    const prefix = uniquePrefix('ret-chain');
    const view = new ViewStore(redis, prefix);
    const chainId = randomUUID();
    const main = sampleOrder(1, { orderChainId: chainId, orderId: mainOrderId(chainId), sendersReference: null });
    await view.putOrder(main);
    expect(await redis.keys(`${prefix}view:chain:*`)).toEqual([]);
    expect((await view.chain(chainId, 'ttd')).map((v) => v.order.orderId)).toEqual([main.orderId]);
    // a reminder is listed; so is a main order whose id a direct producer chose
    const reminder = sampleOrder(2, { orderChainId: chainId, type: 'Reminder', requestedSendTime: main.created + 1 });
    await view.putOrder(reminder);
    expect((await view.chain(chainId, 'ttd')).map((v) => v.order.orderId)).toEqual([main.orderId, reminder.orderId]);
    const own = sampleOrder(3);
    await view.putOrder(own);
    expect((await view.chain(own.orderChainId, 'ttd')).map((v) => v.order.orderId)).toEqual([own.orderId]);
    expect(await view.chain(chainId, 'other')).toEqual([]);
  });

  it("keeps an order's notifications in its own hash, and reads, moves and completes those kept apart before", async () => {
    const prefix = uniquePrefix('ret-notif');
    const view = new ViewStore(redis, prefix);
    const o = sampleOrder(1, { sendersReference: null });
    await view.putOrder(o);
    const [n1, n2] = [randomUUID(), randomUUID()];
    // n1 as written before notifications moved into the order's hash
    await redis.hset(
      `${prefix}view:n:{${o.orderId}}`,
      n1,
      JSON.stringify({ c: 'Email', d: 'a@b.no', s: 'Email_Succeeded', u: 5 }),
    );
    const email = (id: string, status: 'Email_New' | 'Email_Delivered') => ({
      ...orderStatus(o, status, Date.now()),
      notificationId: id,
      channel: 'Email' as const,
      destination: 'a@b.no',
    });
    await view.apply(email(n2, 'Email_New'), Date.now());
    expect(await redis.hkeys(`${prefix}view:o:{${o.orderId}}`)).toContain(`#${n2}`);
    expect((await view.get(o.orderId))?.notifications.map((n) => [n.id, n.status]).sort()).toEqual(
      [
        [n1, 'Email_Succeeded'],
        [n2, 'Email_New'],
      ].sort(),
    );
    expect((await view.apply(orderStatus(o, 'Order_Processed', Date.now()), Date.now())).result).toBe('pending');
    // the old entry's previous status is found, and the entry moves into the order's hash
    expect((await view.apply(email(n1, 'Email_Delivered'), Date.now())).previous).toBe('Email_Succeeded');
    expect(await redis.exists(`${prefix}view:n:{${o.orderId}}`)).toBe(0);
    const done = await view.apply(email(n2, 'Email_Delivered'), Date.now());
    expect(done.result).toBe('complete');
    expect((await view.get(o.orderId))?.notifications.map((n) => [n.status, n.channel])).toEqual([
      ['Email_Delivered', 'Email'],
      ['Email_Delivered', 'Email'],
    ]);
    // its channel is its status's prefix: not stored (the entry written before keeps its own)
    expect(JSON.parse((await redis.hget(`${prefix}view:o:{${o.orderId}}`, `#${n2}`))!)).not.toHaveProperty('c');
    // the creator is the order's own (the hash keeps no copy): another creator reads nothing
    expect(await redis.hexists(`${prefix}view:o:{${o.orderId}}`, 'creator')).toBe(0);
    expect(await view.get(o.orderId, 'ttd')).not.toBeNull();
    expect(await view.get(o.orderId, 'other')).toBeNull();
  });

  it('tells only the record that completed an order that it did, also one recorded as topic:partition:offset before', async () => {
    const prefix = uniquePrefix('ret-done');
    const view = new ViewStore(redis, prefix);
    const completes = async (source: string, recorded?: string) => {
      const o = sampleOrder(1);
      await view.putOrder(o);
      await view.apply(orderStatus(o, 'Order_Processed', Date.now()), Date.now());
      if (recorded) await redis.hset(`${prefix}view:o:{${o.orderId}}`, 'completedBy', recorded);
      else await view.apply(orderStatus(o, 'Order_Processed', Date.now()), Date.now(), '2:41');
      return (await view.apply(orderStatus(o, 'Order_Processed', Date.now()), Date.now(), source)).result;
    };
    expect(await completes('2:41')).toBe('complete');
    expect(await completes('2:42')).toBe('completing');
    expect(await completes('2:41', 'p.altinn.notifications.status:2:41')).toBe('complete');
    expect(await completes('2:41', 'p.altinn.notifications.status:12:41')).toBe('completing');
    expect(await completes('1', 'p.altinn.notifications.status:2:41')).toBe('completing');
  });

  it('remembers an idempotency key for its retention, claim and answer alike', async () => {
    const prefix = uniquePrefix('ret-idem');
    const store = new IdempotencyStore(redis, prefix, 1_000, 5_000);
    await store.claim('ttd', 'k1', '[]', { a: 1 }, Date.now());
    const [key] = await redis.keys(`${prefix}idem:*`);
    expect(await redis.pttl(key!)).toBeGreaterThan(0);
    await store.finish('ttd', 'k1');
    const ttl = await redis.pttl(key!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5_000);
    expect(await store.claim('ttd', 'k1', '[]', {}, Date.now())).toEqual({ kind: 'done', body: { a: 1 } });
    // the answer is kept as it is, not as JSON inside JSON; an answer kept that way before is still read
    expect(await redis.get(key!)).toBe('={"a":1}');
    await redis.set(key!, JSON.stringify({ state: 'done', body: JSON.stringify({ b: 2 }) }), 'PX', 5_000);
    expect(await store.claim('ttd', 'k1', '[]', {}, Date.now())).toEqual({ kind: 'done', body: { b: 2 } });
    await store.giveBack('ttd', 'k1', 0, 'lapse');
    await store.finish('ttd', 'k1');
    expect(await store.claim('ttd', 'k1', '[]', {}, Date.now())).toEqual({ kind: 'done', body: { b: 2 } });
  });

  it('has the releaser drop final markers past their retention, and report its backlog as leader', async () => {
    const prefix = uniquePrefix('ret-final');
    const config = testConfig(prefix);
    const { kafka, codec, logger } = testClients(config);
    await provision(kafka, codec, config);
    const store = new ScheduleStore(redis, `${prefix}orders:`);
    // released long ago, and just now
    await store.settle('old', 'released', Date.now() - 10 * 60_000);
    await store.settle('new', 'released', Date.now());
    const registry = createRegistry(false);
    // and its backlog: two items waiting for their time (an hour away), which it samples as leader
    await store.schedule('later-1', Date.now() + 3_600_000, Buffer.from('x'));
    await store.schedule('later-2', Date.now() + 3_600_000, Buffer.from('y'));
    const releaser = new Releaser(
      {
        store,
        kafka,
        codec,
        topicPrefix: prefix,
        clientId: 'test',
        logger,
        registry,
        clock: Date.now,
      },
      {
        name: 'scheduler',
        output: 'ordersDue',
        leaseMs: 5_000,
        batchSize: 10,
        pollMs: 50,
        leaderTtlMs: 3_000,
        passLeaseMs: 45_000,
        finalRetentionMs: 60_000,
      },
    );
    releaser.start();
    try {
      await eventually(async () => (await store.counts()).final === 1, 'the old marker dropped', 15_000);
      expect(await store.cancel('new', Date.now())).toBe('released');
      expect(await store.cancel('old', Date.now())).toBe('cancelled-before-scheduled');
      const metrics = await registry.metrics();
      expect(metrics).toContain('scheduler_backlog_items{releaser="scheduler",state="waiting"} 2');
      expect(metrics).toContain('scheduler_backlog_items{releaser="scheduler",state="due"} 0');
      expect(metrics).toContain('scheduler_backlog_items{releaser="scheduler",state="leased"} 0');
    } finally {
      await releaser.close();
      await kafka.close();
    }
  });
});
