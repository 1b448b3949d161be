import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, redisConnection, sentinelOptions, type Redis } from '../../platform/redis/client.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { freePort } from '../support/process.ts';
import { ownRedisServer } from '../support/redis-server.ts';
import { eventually } from '../support/stack.ts';

const quiet = createLogger({ level: 'silent', name: 'redis' });

/**
 * Redis behind Sentinel (REDIS_SENTINELS): a primary, its replica and one sentinel of the test's
 * own, on ports of their own. The primary freezes (SIGSTOP: its connections stay open and answer
 * nothing, as a paused VM's); the sentinel fails over to the replica, and the pipeline's client,
 * which would otherwise wait on the frozen connection for as long as TCP keeps it, moves to the
 * new primary, where the call it had waiting on the old one is answered.
 */
describe('Redis behind Sentinel', async () => {
  const [primaryPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
  // (its replica synced at once, not after the 5 s Redis waits for others to sync with)
  const primary = ownRedisServer({ port: primaryPort, args: ['--repl-diskless-sync-delay', '0'] });
  const replica = ownRedisServer({ port: replicaPort, args: ['--replicaof', '127.0.0.1', String(primaryPort)] });
  const sentinel = ownRedisServer({
    port: sentinelPort,
    sentinel: [
      `sentinel monitor pipeline 127.0.0.1 ${primaryPort} 1`,
      'sentinel down-after-milliseconds pipeline 1000',
      'sentinel failover-timeout pipeline 10000',
    ],
  });
  const clients: Redis[] = [];
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    for (const s of [sentinel, replica, primary]) await s.remove();
  });

  it('reads the sentinels and the master group’s name from the configuration', () => {
    const config = loadConfig({
      ...process.env,
      REDIS_URL: 'rediss://app:s%40cret@pipeline/2',
      REDIS_SENTINELS: 'sentinel-0:26379, [fd00::1]:26380',
      REDIS_SENTINEL_PASSWORD: 'sentinels',
    });
    expect(redisConnection(config)).toEqual({
      url: 'rediss://app:s%40cret@pipeline/2',
      sentinels: [
        { host: 'sentinel-0', port: 26379 },
        { host: 'fd00::1', port: 26380 },
      ],
      sentinelPassword: 'sentinels',
      socketTimeoutMs: 30_000,
    });
    // what ioredis is given: the master group, the user and password decoded, the database, and
    // TLS to the sentinels and the servers alike, trusting the CA file
    const ca = join(mkdtempSync(join(tmpdir(), 'sentinel-ca-')), 'ca.pem');
    writeFileSync(ca, 'a CA certificate');
    expect(sentinelOptions({ ...redisConnection(config), sentinels: config.REDIS_SENTINELS!, tlsCaFile: ca })).toEqual({
      sentinels: config.REDIS_SENTINELS,
      name: 'pipeline',
      username: 'app',
      password: 's@cret',
      db: 2,
      sentinelPassword: 'sentinels',
      failoverDetector: true,
      disconnectTimeout: 500,
      tls: { ca: ['a CA certificate'] },
      sentinelTLS: { ca: ['a CA certificate'] },
      enableTLSForSentinelMode: true,
    });
    expect(() => loadConfig({ ...process.env, REDIS_SENTINELS: 'sentinel-0' })).toThrow(
      /REDIS_SENTINELS: "sentinel-0" is not host:port/,
    );
    expect(() => loadConfig({ ...process.env, REDIS_URL: '', REDIS_SENTINELS: 'sentinel-0:26379' })).toThrow(
      /REDIS_SENTINELS: set, but no REDIS_URL names the master group/,
    );
    // without a REDIS_URL, whoever needs Redis says so before connecting anywhere
    const none = loadConfig({ ...process.env, REDIS_URL: '' });
    expect(() => redisConnection(none, 'the gateway')).toThrow(/^REDIS_URL is required by the gateway$/);
    expect(() => redisConnection(none)).toThrow(/^REDIS_URL is not set$/);
  });

  it('moves to the new primary when the old one freezes, and answers the call that waited on it', async () => {
    await primary.start();
    await replica.start();
    // the replica in step before the sentinel starts: the sentinel's first look at the primary
    // finds it (the next comes 10 s later)
    const replicaClient = createRedis({ url: `redis://127.0.0.1:${replicaPort}` }, quiet);
    clients.push(replicaClient);
    await eventually(
      async () => /master_link_status:up/.test(await replicaClient.info('replication')),
      'the replica in step',
    );
    await sentinel.start();
    const redis = createRedis(
      redisConnection(
        loadConfig({ ...process.env, REDIS_URL: 'redis://pipeline', REDIS_SENTINELS: `127.0.0.1:${sentinelPort}` }),
      ),
      quiet,
    );
    clients.push(redis);
    const port = async () => Number(((await redis.config('GET', 'port')) as string[])[1]);
    expect(await port()).toBe(primaryPort);
    const store = new ScheduleStore(redis, 'sentinel:');
    await store.schedule('before', 1_000, Buffer.from('a'));
    // the replica has it (the sentinel promotes only a replica it knows)
    const watcher = createRedis({ url: `redis://127.0.0.1:${sentinelPort}` }, quiet);
    clients.push(watcher);
    await eventually(
      async () => ((await watcher.call('SENTINEL', 'REPLICAS', 'pipeline')) as unknown[]).length === 1,
      'the sentinel knows the replica',
    );
    await eventually(
      async () => (await replicaClient.hexists('sentinel:{schedule}:items', 'before')) === 1,
      'the replica has the item',
    );

    primary.signal('SIGSTOP');
    // sent to the frozen primary: answered only once the client has moved
    const during = store.schedule('during', 1_000, Buffer.from('b'));
    await during;
    expect(await port()).toBe(replicaPort);
    await store.schedule('after', 1_000, Buffer.from('c'));
    expect((await store.counts()).waiting).toBe(3);
  });
});
