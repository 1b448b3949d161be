import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyStore, type Claim } from '../../gateway/orders/idempotency.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, type Redis } from '../../platform/redis/client.ts';
import { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { freePort } from '../support/process.ts';
import { ownRedisServer, replicatedPair } from '../support/redis-server.ts';
import { eventually } from '../support/stack.ts';

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
    expect(await careful.claim('ttd', 'kept', 'first records', body(1), now)).toEqual({
      kind: 'claimed',
      lease: expect.any(Number),
    });

    await replica.kill();
    expect(await careless.claim('ttd', 'lost', 'first records', body(1), now)).toEqual({
      kind: 'claimed',
      lease: expect.any(Number),
    });
    await expect(careful.claim('ttd', 'refused', 'first records', body(1), now)).rejects.toMatchObject({
      retriable: true,
      message: 'idempotency (replicas): the claim reached 0 of 1 replicas in 300 ms',
    });
    // dropped at once: a retry (to this primary) starts afresh rather than wait out a lease
    expect(await careless.claim('ttd', 'refused', 'second records', body(2), now)).toEqual({
      kind: 'claimed',
      lease: expect.any(Number),
    });

    const promoted = store(await failOver());
    const later = now + 120_000;
    // the first request's claim is there: a retry past its lease takes over its records
    expect(await promoted.claim('ttd', 'kept', 'second records', body(2), later)).toEqual({
      kind: 'takeover',
      records: 'first records',
      body: body(1),
      lease: later + 60_000,
    });
    // the claim made without the wait went with the old primary: the retry's own records go out
    expect(await promoted.claim('ttd', 'lost', 'second records', body(2), later)).toEqual({
      kind: 'claimed',
      lease: expect.any(Number),
    });
  });
});

/**
 * A way to Redis that can be cut (every connection through it reset, new ones refused), as a
 * failover cuts a gateway's connections from the old primary, and mended (they find the new one).
 */
async function cuttable(target: number) {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', () => undefined);
      s.on('close', () => open.delete(s));
    }
  });
  const port = await freePort();
  const listen = () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen();
  return {
    url: `redis://127.0.0.1:${port}`,
    /** (new connections refused: nothing listens) */
    cut() {
      server.close();
      for (const s of open) s.destroy();
    },
    mend: listen,
    /** every connection through it reset, new ones sent to `next` (a failover's new primary) */
    moveTo(next: number) {
      target = next;
      for (const s of open) s.destroy();
    },
    close: () => {
      for (const s of open) s.destroy();
      server.close();
    },
  };
}

/**
 * A claim whose replicas' wait is refused is given back (a new one dropped, a taken-over one's
 * lease ended), so the client's retry is not answered 409 "still being registered" until the
 * lease runs out. In a failover the gateway's connections find the new primary one by one, and the
 * give-back can fail where the claim succeeded. A lone server (no replica: every wait is refused)
 * behind ways the test cuts.
 */
describe('a claim given back when its replicas wait is refused', async () => {
  const port = await freePort();
  const lone = ownRedisServer({ port });
  const clients: Redis[] = [];
  const closers: (() => void)[] = [];
  const connectTo = (url: string) => {
    const redis = createRedis({ url }, quiet);
    clients.push(redis);
    return redis;
  };
  beforeAll(() => lone.start());
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    for (const close of closers) close();
    await lone.remove();
  });
  const prefix = 'idem-give-back:';
  const careful = (redis: Redis, claims: Redis) =>
    new IdempotencyStore(redis, prefix, 60_000, undefined, new ReplicaWait(claims, 1, 1_000, 'idempotency'));
  const key = (id: string) => `${prefix}idem:ttd:${Buffer.from(id).toString('base64url')}`;
  const body = (n: number) => ({ notificationOrderId: `order ${n}` });
  /** the scripts the server has run (every claim and give-back is one) */
  const scriptsRun = async (redis: Redis) =>
    [...(await redis.info('commandstats')).matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );

  it('is given back on the claim’s own connection, whatever the other one does', async () => {
    const direct = connectTo(`redis://127.0.0.1:${port}`);
    const plain = new IdempotencyStore(direct, prefix, 60_000);
    // the gateway's other connection has lost Redis (still looking for the new primary)
    const way = await cuttable(port);
    closers.push(way.close);
    way.cut();
    const store = careful(connectTo(way.url), connectTo(`redis://127.0.0.1:${port}`));
    await expect(store.claim('ttd', 'own', 'first records', body(1), Date.now())).rejects.toMatchObject({
      retriable: true,
      message: 'idempotency (replicas): the claim reached 0 of 1 replicas in 1000 ms',
    });
    // the retry at once starts afresh with its own records
    expect(await plain.claim('ttd', 'own', 'second records', body(2), Date.now())).toEqual({
      kind: 'claimed',
      lease: expect.any(Number),
    });
  });

  /**
   * `id` claimed through a way cut while the claim waits for a replica (both of the gateway's
   * connections through it): the wait fails, and so does the give-back. Returns a store on a
   * connection of its own, and the way, to mend.
   */
  const refusedAndCut = async (id: string) => {
    const direct = connectTo(`redis://127.0.0.1:${port}`);
    const way = await cuttable(port);
    closers.push(way.close);
    const store = careful(connectTo(way.url), connectTo(way.url));
    const attempt = store.claim('ttd', id, 'first records', body(1), Date.now());
    await eventually(async () => (await direct.exists(key(id))) === 1, 'the claim made');
    way.cut();
    await expect(attempt).rejects.toMatchObject({ retriable: true });
    return { direct, plain: new IdempotencyStore(direct, prefix, 60_000), way };
  };

  it('is tried again until Redis answers, when it fails, not left for the lease to run out', async () => {
    const { plain, way } = await refusedAndCut('cut');
    expect(await plain.claim('ttd', 'cut', 'second records', body(2), Date.now())).toEqual({ kind: 'busy' });
    await way.mend();
    const since = Date.now();
    let answer: unknown;
    await eventually(
      async () =>
        ((answer = await plain.claim('ttd', 'cut', 'second records', body(2), Date.now())), answer !== null) &&
        (answer as { kind: string }).kind !== 'busy',
      'the retry answered',
      20_000,
    );
    // given back (dropped): the retry claims the key afresh, well before the 60 s lease ends
    expect(answer).toEqual({ kind: 'claimed', lease: expect.any(Number) });
    expect(Date.now() - since).toBeLessThan(20_000);
  });

  it('is tried again when a request gives its claim back and Redis does not answer, without replicas too', async () => {
    const direct = connectTo(`redis://127.0.0.1:${port}`);
    const plain = new IdempotencyStore(direct, prefix, 60_000);
    const way = await cuttable(port);
    closers.push(way.close);
    const store = new IdempotencyStore(connectTo(way.url), prefix, 60_000);
    const claim = await store.claim('ttd', 'released', 'first records', body(1), Date.now());
    expect(claim.kind).toBe('claimed');
    // its records could not be published, and Redis is out of reach when it gives the claim back
    way.cut();
    await store.giveBack('ttd', 'released', (claim as { lease: number }).lease, 'drop');
    expect(store.waiting).toBe(1);
    expect(await plain.claim('ttd', 'released', 'second records', body(2), Date.now())).toEqual({ kind: 'busy' });
    await way.mend();
    await eventually(async () => store.waiting === 0, 'the give-back done', 20_000);
    // dropped: the retry claims the key afresh, well before the 60 s lease ends
    expect(await plain.claim('ttd', 'released', 'second records', body(2), Date.now())).toEqual({
      kind: 'claimed',
      lease: expect.any(Number),
    });
  });

  /** a store through a way the test cuts, with one give-back Redis refused waiting to be tried again */
  const refusedGiveBack = async (id: string) => {
    const direct = connectTo(`redis://127.0.0.1:${port}`);
    const way = await cuttable(port);
    closers.push(way.close);
    const store = new IdempotencyStore(connectTo(way.url), prefix, 60_000);
    const claim = await store.claim('ttd', id, 'first records', body(1), Date.now());
    expect(claim.kind).toBe('claimed');
    way.cut();
    await store.giveBack('ttd', id, (claim as { lease: number }).lease, 'drop');
    expect(store.waiting).toBe(1);
    return { store, way, plain: new IdempotencyStore(direct, prefix, 60_000) };
  };

  it('is tried again at the gateway’s shutdown until Redis answers, not dropped with the process', async () => {
    const { store, way, plain } = await refusedGiveBack('at-shutdown');
    const drained = store.drain(15_000);
    await way.mend();
    expect(await drained).toBe(0);
    expect(await plain.claim('ttd', 'at-shutdown', 'second records', body(2), Date.now())).toEqual({
      kind: 'claimed',
      lease: expect.any(Number),
    });
  });

  it('is left undone at shutdown, and counted, when Redis does not answer within the bound', async () => {
    const { store, plain } = await refusedGiveBack('never');
    const since = Date.now();
    expect(await store.drain(1_500)).toBe(1);
    expect(Date.now() - since).toBeGreaterThanOrEqual(1_400);
    expect(await plain.claim('ttd', 'never', 'second records', body(2), Date.now())).toEqual({ kind: 'busy' });
  });

  it('touches only the claim it gave back: a later claim of the key is left alone', async () => {
    const { direct, plain, way } = await refusedAndCut('later');
    // meanwhile the key is claimed anew (the first claim's lease ended, say: here, deleted)
    await direct.del(key('later'));
    expect(await plain.claim('ttd', 'later', 'third records', body(3), Date.now())).toEqual({
      kind: 'claimed',
      lease: expect.any(Number),
    });
    const before = await scriptsRun(direct);
    await way.mend();
    // the give-back, tried again once the way is mended, finds a claim not its own and leaves it
    await eventually(async () => (await scriptsRun(direct)) > before, 'the give-back tried again');
    expect(await plain.claim('ttd', 'later', 'fourth records', body(4), Date.now())).toEqual({ kind: 'busy' });
  });
});

/**
 * A primary and its replica of the test's own, and a store (waiting for one replica) whose
 * connections go through a way that moves to the replica once it is promoted. `failOver`: the
 * primary gone, the replica resumes (with what it read before it froze) and is promoted, the
 * store's connections find it; then a retry of `id` there, until it is not answered `busy`.
 */
async function replicaPromotedAfterFreeze(prefix: string) {
  const pair = await replicatedPair((url) => createRedis({ url }, quiet));
  const closers: (() => void)[] = [];
  afterAll(() => {
    for (const close of closers) close();
  });
  const key = (id: string) => `${prefix}idem:ttd:${Buffer.from(id).toString('base64url')}`;
  const start = async () => {
    await pair.start();
    const way = await cuttable(pair.primaryPort);
    closers.push(way.close);
    const store = new IdempotencyStore(
      pair.client(way.url),
      prefix,
      60_000,
      undefined,
      new ReplicaWait(pair.client(way.url), 1, 1_000, 'idempotency'),
    );
    const onPrimary = pair.client(`redis://127.0.0.1:${pair.primaryPort}`);
    const failOver = async (id: string): Promise<Claim> => {
      await pair.primary.kill();
      pair.replica.signal('SIGCONT');
      const promoted = pair.client(`redis://127.0.0.1:${pair.replicaPort}`);
      await eventually(async () => (await promoted.exists(key(id))) === 1, 'the claim on the replica');
      await promoted.call('REPLICAOF', 'NO', 'ONE');
      way.moveTo(pair.replicaPort);
      const plain = new IdempotencyStore(promoted, prefix, 60_000);
      let answer: Claim = { kind: 'busy' };
      await eventually(
        async () => (answer = await plain.claim('ttd', id, 'second records', { n: 2 }, Date.now())).kind !== 'busy',
        'the retry answered on the promoted replica',
        15_000,
      );
      return answer;
    };
    return { store, onPrimary, failOver };
  };
  return { key, replica: pair.replica, start };
}

/**
 * A replica can hold a claim without having acknowledged it in time: frozen with the claim in its
 * socket's buffer, say, and cut off before the give-back follows. Promoted, it would answer the
 * key 409 "still being registered" until the lease ran out: the give-back is tried again until a
 * replica holds it.
 */
describe('a claim given back on the replica that held it unacknowledged', async () => {
  const { key, replica, start } = await replicaPromotedAfterFreeze('idem-unacknowledged:');

  it('is given back there too once it is promoted, not left for the lease to run out', async () => {
    const { store, onPrimary, failOver } = await start();
    replica.signal('SIGSTOP');
    const attempt = store.claim('ttd', 'frozen', 'first records', { n: 1 }, Date.now());
    await eventually(async () => (await onPrimary.exists(key('frozen'))) === 1, 'the claim made');
    // the claim sits in the frozen replica's socket buffer; its link is cut before the give-back
    await onPrimary.call('CLIENT', 'KILL', 'TYPE', 'replica');
    await expect(attempt).rejects.toMatchObject({ retriable: true });
    expect(await onPrimary.exists(key('frozen'))).toBe(0);
    // (the replica, promoted, reads the claim, not the give-back)
    expect(await failOver('frozen')).toEqual({ kind: 'claimed', lease: expect.any(Number) });
  });
});

/**
 * The finish likewise: a replica can hold the claim and miss the finish that followed it (cut off
 * while frozen). Promoted, it would hold the claim pending: the client's retry answered 409
 * "still being registered" until the lease ran out, then taking the claim over. The finish is
 * waited for in the background until a replica holds it, and made again meanwhile.
 */
describe('a finish the replica missed', async () => {
  const { key, replica, start } = await replicaPromotedAfterFreeze('idem-finish-missed:');

  it('is made again on the promoted replica, so a retry is answered from the key', async () => {
    const { store, onPrimary, failOver } = await start();
    expect(await store.claim('ttd', 'finished', 'first records', { n: 1 }, Date.now())).toMatchObject({
      kind: 'claimed',
    });
    // the replica, holding the claim, freezes and is cut off; the order is published and finished
    replica.signal('SIGSTOP');
    await onPrimary.call('CLIENT', 'KILL', 'TYPE', 'replica');
    await store.finish('ttd', 'finished');
    expect(await onPrimary.get(key('finished'))).toBe('={"n":1}');
    expect(await failOver('finished')).toEqual({ kind: 'done', body: { n: 1 } });
  });
});
