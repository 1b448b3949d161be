import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, type Redis } from '../../platform/redis/client.ts';
import { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { orderStatus } from '../../platform/status.ts';
import { ViewStore } from '../../platform/view/store.ts';
import { replicatedPair } from '../support/redis-server.ts';
import { sampleOrder } from '../support/stack.ts';

const quiet = createLogger({ level: 'silent', name: 'redis' });

/**
 * The stages tell the status view of each order and status once: order-view and status-view
 * commit a record once the view has it, and nothing writes it again. Lost with a failover, the
 * order would answer 404 and the status never show (the feed would skip it for good). With
 * REDIS_WAIT_REPLICAS the view's writes resolve only once the replicas hold them, so the record
 * is committed only then. A primary and its replica of the test's own: the replica dies, the
 * view is written meanwhile, the primary dies, and the replica comes back from its file and is
 * promoted (REPLICAOF NO ONE, as a failover does).
 */
describe('the status view across a Redis failover', async () => {
  const { replica, primary, client, start, failOver } = await replicatedPair((url) => createRedis({ url }, quiet));
  const config = loadConfig({ ...process.env, REDIS_WAIT_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '300' });
  const view = (redis: Redis, writes?: Redis) =>
    new ViewStore(
      redis,
      'view-replicas:',
      undefined,
      undefined,
      undefined,
      writes && new ReplicaWait(writes, config.REDIS_WAIT_REPLICAS, config.REDIS_REPLICA_WAIT_MS, 'status view'),
    );
  const [kept, batched, lost, unsure] = [sampleOrder(1), sampleOrder(2), sampleOrder(3), sampleOrder(4)];
  const sent = (o: typeof kept, at: number) => ({
    ...orderStatus(o, 'Email_New', at),
    notificationId: randomUUID(),
    channel: 'Email' as const,
  });

  it('commits an order’s or a status’s record only once a replica holds it, so the promoted replica still shows it', async () => {
    await start();
    const now = Date.now();
    const careful = view(client(primary.socket), client(primary.socket));
    const careless = view(client(primary.socket));
    expect(await careful.putOrder(kept)).toBe(true);
    // (order-view records a batch in one round trip, with one wait)
    expect(await careful.putOrders([batched, kept])).toEqual([true, false]);
    expect((await careful.applyAll([{ event: sent(kept, now), source: '0:1' }], now))[0]).not.toBeInstanceOf(Error);

    await replica.kill();
    // no replica takes the primary's writes now: an order and a status only the primary holds
    expect(await careless.putOrder(lost)).toBe(true);
    await careless.apply(sent(kept, now + 1), now + 1, '0:2');
    await expect(careful.putOrder(unsure)).rejects.toMatchObject({
      retriable: true,
      message: 'status view (replicas): the order reached 0 of 1 replicas in 300 ms',
    });
    await expect(careful.putOrders([unsure, lost])).rejects.toMatchObject({
      message: 'status view (replicas): 2 orders reached 0 of 1 replicas in 300 ms',
    });
    await expect(careful.apply(sent(unsure, now + 2), now + 2, '0:3')).rejects.toMatchObject({
      retriable: true,
      message: 'status view (replicas): the status reached 0 of 1 replicas in 300 ms',
    });
    await expect(
      careful.putOrderAndApply(unsure, { status: 'Order_Registered', at: now }, [sent(unsure, now + 3)], now + 3),
    ).rejects.toMatchObject({
      message: 'status view (replicas): the order and its statuses reached 0 of 1 replicas in 300 ms',
    });

    const promoted = view(await failOver());
    const shown = await promoted.get(kept.orderId);
    // the order and the status written with the wait are there; the status written without it went
    expect(shown?.order.orderId).toBe(kept.orderId);
    expect(shown?.notifications).toHaveLength(1);
    expect((await promoted.get(batched.orderId))?.order.orderId).toBe(batched.orderId);
    // the order written without it went with the old primary: it would answer 404 for good
    expect(await promoted.get(lost.orderId)).toBeNull();
    // its record was not committed (the write failed): its replay writes it now
    expect(await promoted.putOrder(unsure)).toBe(true);
  });
});
