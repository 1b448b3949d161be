import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, type Redis } from '../../platform/redis/client.ts';
import { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { replicatedPair } from '../support/redis-server.ts';

const quiet = createLogger({ level: 'silent', name: 'redis' });

/**
 * An item a stage schedules (an order waiting for its send time, a deferral) is in Redis alone
 * once its input record is committed: lost with a failover, the order would never be released.
 * With REDIS_WAIT_REPLICAS, `schedule` resolves only once the replicas hold the item, so the
 * record is committed only then. A primary and its replica of the test's own: the replica dies,
 * items are scheduled meanwhile, the primary dies, and the replica comes back from its file and
 * is promoted (REPLICAOF NO ONE, as a failover does).
 */
describe('the schedule across a Redis failover', async () => {
  const { replica, primary, client, start, failOver } = await replicatedPair((url) => createRedis({ url }, quiet));
  const config = loadConfig({ ...process.env, REDIS_WAIT_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '300' });
  const store = (redis: Redis, writes?: Redis) =>
    new ScheduleStore(
      redis,
      'schedule-replicas:',
      writes && new ReplicaWait(writes, config.REDIS_WAIT_REPLICAS, config.REDIS_REPLICA_WAIT_MS, 'schedule store'),
    );
  const payload = Buffer.from('an order');
  const later = Date.now() + 3_600_000;

  it('commits an item’s record only once a replica holds the item, so the promoted replica still has it', async () => {
    await start();
    const careful = store(client(primary.socket), client(primary.socket));
    const careless = store(client(primary.socket));
    expect(await careful.schedule('kept', later, payload)).toBe('scheduled');

    await replica.kill();
    // no replica takes the primary's writes now: an item only the primary holds
    expect(await careless.schedule('lost', later, payload)).toBe('scheduled');
    await expect(careful.schedule('unsure', later, payload)).rejects.toMatchObject({
      retriable: true,
      message: 'schedule store (replicas): the item reached 0 of 1 replicas in 300 ms',
    });

    const promoted = store(await failOver());
    // scheduled again, as a replay of its record would: there already, or not
    expect(await promoted.schedule('kept', later, payload)).toBe('rescheduled');
    // the item scheduled without the wait went with the old primary: its order would never go
    expect(await promoted.schedule('lost', later, payload)).toBe('scheduled');
    // its record was not committed (the schedule failed): its replay schedules it now
    expect(await promoted.schedule('unsure', later, payload)).toBe('scheduled');
  });
});

/**
 * The gateway cancels an order by cancelling its item in the orders' schedule, and answers 200:
 * a cancellation lost with a failover brings the item back, and the order is sent after the
 * caller was told it was cancelled. With REDIS_WAIT_REPLICAS `cancel` resolves only once the
 * replicas hold it (else the gateway answers 503, and the caller asks again).
 */
describe('a cancellation across a Redis failover', async () => {
  const { replica, primary, client, start, failOver } = await replicatedPair((url) => createRedis({ url }, quiet));
  const config = loadConfig({ ...process.env, REDIS_WAIT_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '300' });
  const store = (redis: Redis, writes?: Redis) =>
    new ScheduleStore(
      redis,
      'cancel-replicas:',
      writes && new ReplicaWait(writes, config.REDIS_WAIT_REPLICAS, config.REDIS_REPLICA_WAIT_MS, 'schedule store'),
    );
  const payload = Buffer.from('an order');
  const later = Date.now() + 3_600_000;

  it('answers a cancellation only once a replica holds it, so the promoted replica never releases the order', async () => {
    await start();
    const careful = store(client(primary.socket), client(primary.socket));
    const careless = store(client(primary.socket));
    for (const id of ['cancelled', 'back', 'unanswered', 'elsewhere'])
      expect(await careful.schedule(id, later, payload)).toBe('scheduled');
    expect(await careful.cancel('cancelled', Date.now())).toBe('cancelled');

    // A cancellation asked again (its first answer a 503) on another gateway: its wait must cover
    // the first one's write, not only its own connection's older ones. (The Redis here, 7.0,
    // moves a connection's WAIT offset at any command; cancel-item.lua writes again for the
    // versions after it, which move it only at a write of the connection's own.)
    const another = store(client(primary.socket), client(primary.socket));
    // (its connection in use before: what it wrote, its scripts loaded, is older than the cancellation)
    expect(await another.schedule('its-own', later, payload)).toBe('scheduled');
    replica.signal('SIGSTOP');
    try {
      expect(await careless.cancel('elsewhere', Date.now())).toBe('cancelled');
      await expect(another.cancel('elsewhere', Date.now())).rejects.toMatchObject({
        message: 'schedule store (replicas): the cancellation reached 0 of 1 replicas in 300 ms',
      });
    } finally {
      replica.signal('SIGCONT');
    }

    await replica.kill();
    expect(await careless.cancel('back', Date.now())).toBe('cancelled');
    await expect(careful.cancel('unanswered', Date.now())).rejects.toMatchObject({
      retriable: true,
      message: 'schedule store (replicas): the cancellation reached 0 of 1 replicas in 300 ms',
    });

    const promoted = store(await failOver());
    // the cancellation answered is kept: the item is never scheduled again
    expect(await promoted.schedule('cancelled', later, payload)).toBe('final');
    // cancelled without the wait, and back after the failover: its order would be sent
    expect(await promoted.schedule('back', later, payload)).toBe('rescheduled');
    // refused (503), asked again: cancelled now
    expect(await promoted.cancel('unanswered', Date.now())).toBe('cancelled');
  });
});
