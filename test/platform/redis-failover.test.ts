import { ReplyError } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, inRedis, redisError, type Redis } from '../../platform/redis/client.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { ownRedisServer } from '../support/redis-server.ts';
import { freePort } from '../support/process.ts';

const quiet = createLogger({ level: 'silent', name: 'redis' });

/**
 * A Redis failover demotes the primary the pipeline's connections are open to: it answers every
 * write `READONLY` and keeps the connection. Taken as the command's own error (a bug: permanent),
 * every record written meanwhile went to the dead-letter topic and the gateway answered 500.
 */
describe('a Redis failover', () => {
  const server = ownRedisServer();
  const clients: Redis[] = [];
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await server.remove();
  });

  it('makes writes to the demoted primary retriable, connects again, and the write goes through once a primary answers', async () => {
    await server.start();
    const admin = createRedis({ url: server.socket }, quiet);
    const redis = createRedis({ url: server.socket }, quiet);
    clients.push(admin, redis);
    const store = new ScheduleStore(redis, 'failover:');
    await store.schedule('before', 1_000, Buffer.from('a'));
    const firstConnection = await redis.client('ID');

    await admin.call('REPLICAOF', '127.0.0.1', String(await freePort()));
    const reconnected = new Promise((resolve) => redis.once('ready', resolve));
    const refused = await store.schedule('during', 1_000, Buffer.from('b')).catch((err: unknown) => err);
    expect(refused).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', retriable: true });
    expect((refused as Error).message).toMatch(/^schedule store: READONLY /);
    // a transaction (MULTI) is discarded whole: EXECABORT, the READONLY inside
    const discarded = await inRedis('receipts', () =>
      redis.multi().set('failover:k', '1').expire('failover:k', 9).exec(),
    ).catch((err: unknown) => err);
    expect(discarded).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', retriable: true });
    expect((discarded as Error).message).toMatch(/^receipts: EXECABORT /);
    // a wait for replicas (the send ledger's, after its claim) asked of the demoted primary
    const unwaited = await inRedis('send ledger', () => redis.wait(1, 10)).catch((err: unknown) => err);
    expect(unwaited).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', retriable: true });
    expect((unwaited as Error).message).toMatch(/^send ledger: ERR WAIT cannot be used with replica instances/);
    // a name that now points at the new primary is reached only by a new connection, closed
    // once for a burst of refusals (ioredis added a socket listener for each: a warning on stderr)
    const warnings: string[] = [];
    const warned = (w: Error) => void warnings.push(w.name);
    process.on('warning', warned);
    const burst = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => redis.set(`failover:burst:${i}`, '1')));
    expect(burst.every((r) => r.status === 'rejected')).toBe(true);
    await reconnected;
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', warned);
    expect(warnings).toEqual([]);
    expect(await redis.client('ID')).not.toBe(firstConnection);

    await admin.call('REPLICAOF', 'NO', 'ONE');
    await store.schedule('during', 1_000, Buffer.from('b'));
    expect((await store.counts()).waiting).toBe(2);
  });

  it('tells the server’s state (failover, loading, a long script, memory) from a command’s own error', () => {
    const asRetriable = (message: string) => redisError('store', new ReplyError(message)).retriable;
    for (const message of [
      "READONLY You can't write against a read only replica.",
      'LOADING Redis is loading the dataset in memory',
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no.',
      'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'CLUSTERDOWN The cluster is down',
      'NOREPLICAS Not enough good replicas to write.',
      'MISCONF Errors writing to the AOF file: No space left on device',
      "OOM command not allowed when used memory > 'maxmemory'.",
      'UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)',
    ]) {
      expect(asRetriable(message), message).toBe(true);
    }
    for (const message of [
      'ERR wrong number of arguments for command',
      'WRONGTYPE Operation against a key holding the wrong kind of value',
      'BUSYKEY Target key name already exists.',
      'ERR user_script:12: Script attempted to access nonexistent global variable',
    ]) {
      expect(asRetriable(message), message).toBe(false);
    }
  });
});
