import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, redisConnection, type Redis } from '../../platform/redis/client.ts';
import { ownRedisServer } from '../support/redis-server.ts';
import { freePort } from '../support/process.ts';

const quiet = createLogger({ level: 'silent', name: 'redis' });

/**
 * An endpoint in front of Redis, as a managed Redis's name is: connections to it reach `target`.
 * `cut` leaves every connection made so far open but carrying nothing either way (a host gone
 * without a reset, a network cut), and sends new connections to `next` (the endpoint moved to the
 * new primary at a failover).
 */
async function endpoint(target: number) {
  const port = await freePort();
  const open: Socket[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    open.push(client, upstream);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${port}`,
    cut(next: number) {
      for (const s of open.splice(0)) {
        s.unpipe();
        s.pause();
      }
      target = next;
    },
    close: () => {
      for (const s of open) s.destroy();
      server.close();
    },
  };
}

/**
 * A connection owes answers and hears nothing: the host is gone without a reset, or a network cut
 * it. TCP keeps it open until its retransmissions give up (about 15 minutes on Linux), and every
 * call on it waits that long; behind a managed Redis's endpoint the new primary is one new
 * connection away all the while.
 */
const oldPort = await freePort();
const promotedPort = await freePort();

describe('a Redis connection that goes silent', () => {
  const old = ownRedisServer({ port: oldPort });
  const promoted = ownRedisServer({ port: promotedPort });
  const clients: Redis[] = [];
  const closers: (() => void)[] = [];
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    for (const close of closers) close();
    await old.remove();
    await promoted.remove();
  });

  it('is left after REDIS_SOCKET_TIMEOUT_MS, and its calls answered on a new one', async () => {
    await old.start();
    await promoted.start();
    const front = await endpoint(oldPort);
    closers.push(front.close);
    const connection = redisConnection(
      loadConfig({ ...process.env, REDIS_URL: front.url, REDIS_SOCKET_TIMEOUT_MS: '500' }),
    );
    expect(connection.socketTimeoutMs).toBe(500);
    const redis = createRedis(connection, quiet);
    clients.push(redis);
    await redis.set('k', 'before');

    front.cut(promotedPort);
    const since = Date.now();
    await redis.set('k', 'after');
    // answered by the new primary, within the timeout and a reconnect
    expect(Date.now() - since).toBeLessThan(5_000);
    const on = async (socket: string) => {
      const c = createRedis({ url: socket }, quiet);
      clients.push(c);
      return c.get('k');
    };
    expect(await on(promoted.socket)).toBe('after');
    expect(await on(old.socket)).toBe('before');
  });

  it('is waited on for as long as TCP keeps it with the timeout off (0)', async () => {
    const front = await endpoint(oldPort);
    closers.push(front.close);
    const connection = redisConnection(
      loadConfig({ ...process.env, REDIS_URL: front.url, REDIS_SOCKET_TIMEOUT_MS: '0' }),
    );
    expect(connection.socketTimeoutMs).toBeUndefined();
    const redis = createRedis(connection, quiet);
    clients.push(redis);
    await redis.set('k2', 'before');
    front.cut(promotedPort);
    const answered = redis.set('k2', 'after').then(() => 'answered');
    // (what it shows is an absence, so a bounded wait: four times the timeout of the test above)
    const waited = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000).unref());
    expect(await Promise.race([answered, waited])).toBe('still waiting');
  });

  it('rejects a negative timeout', () => {
    expect(() => loadConfig({ ...process.env, REDIS_SOCKET_TIMEOUT_MS: '-1' })).toThrow(/REDIS_SOCKET_TIMEOUT_MS/);
  });
});
