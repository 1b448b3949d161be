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
 * With SCHEDULE_REPLICAS, `schedule` resolves only once the replicas hold the item, so the
 * record is committed only then. A primary and its replica of the test's own: the replica dies,
 * items are scheduled meanwhile, the primary dies, and the replica comes back from its file and
 * is promoted (REPLICAOF NO ONE, as a failover does).
 */
describe('the schedule across a Redis failover', async () => {
  const { replica, primary, client, start, failOver } = await replicatedPair((url) => createRedis({ url }, quiet));
  const config = loadConfig({ ...process.env, SCHEDULE_REPLICAS: '1', SCHEDULE_REPLICA_WAIT_MS: '300' });
  const store = (redis: Redis, writes?: Redis) =>
    new ScheduleStore(
      redis,
      'schedule-replicas:',
      writes &&
        new ReplicaWait(
          writes,
          config.SCHEDULE_REPLICAS,
          config.SCHEDULE_REPLICA_WAIT_MS,
          'schedule store',
          'SCHEDULE_REPLICAS',
        ),
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
