import { describe, expect, it } from 'vitest';
import { IdempotencyStore } from '../../gateway/orders/idempotency.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, type Redis } from '../../platform/redis/client.ts';
import { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { replicatedPair } from '../support/redis-server.ts';

const quiet = createLogger({ level: 'silent', name: 'redis' });

/**
 * The gateway claims an idempotencyId with the records it is about to publish, then publishes
 * them. A claim lost with a failover lets a retry claim the key afresh and publish its own
 * records under the same derived ids: the same order, but a body that differs would replace the
 * one still waiting for its send time, and the caller would be answered for it. With
 * REDIS_WAIT_REPLICAS a claim is used only once the replicas hold it; refused, it is dropped
 * (503, and the retry starts afresh). A primary and its replica of the test's own: the replica
 * dies, keys are claimed meanwhile, the primary dies, and the replica comes back from its file
 * and is promoted (REPLICAOF NO ONE, as a failover does).
 */
describe('idempotency claims across a Redis failover', async () => {
  const { replica, primary, client, start, failOver } = await replicatedPair((url) => createRedis({ url }, quiet));
  const config = loadConfig({ ...process.env, REDIS_WAIT_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '300' });
  const store = (redis: Redis, claims?: Redis) =>
    new IdempotencyStore(
      redis,
      'idem-replicas:',
      60_000,
      undefined,
      claims && new ReplicaWait(claims, config.REDIS_WAIT_REPLICAS, config.REDIS_REPLICA_WAIT_MS, 'idempotency'),
    );
  const body = (n: number) => ({ notificationOrderId: `order ${n}` });

  it('uses a claim only once a replica holds it, so a retry after the failover is answered for the first request', async () => {
    await start();
    const careful = store(client(primary.socket), client(primary.socket));
    const careless = store(client(primary.socket));
    const now = Date.now();
    expect(await careful.claim('ttd', 'kept', 'first records', body(1), now)).toEqual({ kind: 'claimed' });

    await replica.kill();
    expect(await careless.claim('ttd', 'lost', 'first records', body(1), now)).toEqual({ kind: 'claimed' });
    await expect(careful.claim('ttd', 'refused', 'first records', body(1), now)).rejects.toMatchObject({
      retriable: true,
      message: 'idempotency (replicas): the claim reached 0 of 1 replicas in 300 ms',
    });
    // dropped at once: a retry (to this primary) starts afresh rather than wait out a lease
    expect(await careless.claim('ttd', 'refused', 'second records', body(2), now)).toEqual({ kind: 'claimed' });

    const promoted = store(await failOver());
    const later = now + 120_000;
    // the first request's claim is there: a retry past its lease takes over its records
    expect(await promoted.claim('ttd', 'kept', 'second records', body(2), later)).toEqual({
      kind: 'takeover',
      records: 'first records',
      body: body(1),
    });
    // the claim made without the wait went with the old primary: the retry's own records go out
    expect(await promoted.claim('ttd', 'lost', 'second records', body(2), later)).toEqual({ kind: 'claimed' });
  });
});
