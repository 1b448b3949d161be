import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, redisConnection, sentinelOptions, type Redis } from '../../platform/redis/client.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { serverCertificate } from '../../deploy/local/blob-store/tls.ts';
import { failoverSet } from '../support/redis-server.ts';
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
  const set = await failoverSet();

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
    await followsFailover(set, (port) => createRedis({ url: `redis://127.0.0.1:${port}` }, quiet), {
      REDIS_URL: 'redis://pipeline',
      REDIS_SENTINELS: `127.0.0.1:${set.sentinelPort}`,
    });
  });
});

/**
 * The same over TLS, as production runs it (`rediss://`): the servers and the sentinel take TLS
 * only, with a CA of the test's own (REDIS_TLS_CA_FILE), the servers a password (in REDIS_URL)
 * and the sentinel one of its own (REDIS_SENTINEL_PASSWORD); the replica syncs and the sentinel
 * watches over TLS too.
 */
describe('Redis behind Sentinel, over TLS, with passwords', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-tls-'));
  const tls = serverCertificate(dir, 2);
  const set = await failoverSet(tls);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('moves to the new primary when the old one freezes, through sentinels and servers it reaches over TLS', async () => {
    await followsFailover(
      set,
      (port) =>
        createRedis(
          {
            url: `rediss://:${port === set.sentinelPort ? 'sentinel-secret' : 'app-secret'}@127.0.0.1:${port}`,
            tlsCaFile: tls.caFile,
          },
          quiet,
        ),
      {
        REDIS_URL: 'rediss://:app-secret@pipeline',
        REDIS_SENTINELS: `127.0.0.1:${set.sentinelPort}`,
        REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
        REDIS_TLS_CA_FILE: tls.caFile,
      },
    );
  });
});

/**
 * Starts the primary, its replica and the sentinel; through a client configured by `env`, writes
 * to the primary, freezes it (SIGSTOP) with a write in flight, and expects that write answered
 * by the replica the sentinel promotes, and the next one there too. `direct` makes a client of
 * one server or the sentinel, by its port.
 */
async function followsFailover(
  s: Awaited<ReturnType<typeof failoverSet>>,
  direct: (port: number) => Redis,
  env: Record<string, string>,
): Promise<void> {
  const { clients } = s;
  const { replicaClient } = await s.start(direct);
  const redis = createRedis(redisConnection(loadConfig({ ...process.env, ...env })), quiet);
  clients.push(redis);
  const port = async () => Number(((await redis.config('GET', s.portSetting)) as string[])[1]);
  expect(await port()).toBe(s.primaryPort);
  const store = new ScheduleStore(redis, 'sentinel:');
  await store.schedule('before', 1_000, Buffer.from('a'));
  await eventually(
    async () => (await replicaClient.hexists('sentinel:{schedule}:items', 'before')) === 1,
    'the replica has the item',
  );

  s.primary.signal('SIGSTOP');
  // sent to the frozen primary: answered only once the client has moved
  const during = store.schedule('during', 1_000, Buffer.from('b'));
  await during;
  expect(await port()).toBe(s.replicaPort);
  await store.schedule('after', 1_000, Buffer.from('c'));
  expect((await store.counts()).waiting).toBe(3);
}
