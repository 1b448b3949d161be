import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';

const require = createRequire(import.meta.url);
const ConnectionPool = require('kafkajs/src/network/connectionPool.js') as new (o: object) => Pool;
const Broker = require('kafkajs/src/broker/index.js') as new (o: object) => KafkaBroker;
const BrokerPool = require('kafkajs/src/cluster/brokerPool.js') as { prototype: object };
const Cluster = require('kafkajs/src/cluster/index.js') as new (o: object) => KafkaCluster;
const socketFactory = require('kafkajs/src/network/socketFactory.js') as () => unknown;
const apiVersions = require('kafkajs/src/protocol/requests/apiVersions/index.js') as {
  protocol(o: { version: number }): () => object;
};
const createRetry = require('kafkajs/src/retry/index.js') as (o: object) => unknown;

interface Connection {
  send(request: object): Promise<unknown>;
  connectingSince: number | null;
}
interface Pool {
  getConnection(index?: number): Promise<Connection>;
  pool: Connection[];
}
interface KafkaBroker {
  nodeId: number;
  connectionPool: Pool;
  isUnanswering(ms: number): boolean;
}
interface Pooled {
  brokers: Record<string, unknown>;
  refreshMetadata(topics: string[]): Promise<void>;
  findBroker(o: { nodeId: string }): Promise<unknown>;
  hasUnansweringBroker(): boolean;
}
interface KafkaCluster {
  brokerPool: object;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const namespaced: object = { ...logger, namespace: () => namespaced };

/**
 * A broker that hangs, as a SIGSTOPped one does: its kernel takes TCP connections, nothing reads
 * or answers what comes on them (a TLS handshake is never finished). Counts its connections and
 * resolves `closed` as each is closed by the client.
 */
async function hungBroker() {
  const sockets: net.Socket[] = [];
  const closes: Promise<unknown>[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    closes.push(once(socket, 'close'));
    // read and never answered
    socket.on('data', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    sockets,
    closes,
    accepted: async (count: number) => {
      while (sockets.length < count) await once(server, 'connection');
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** kafkajs's own broker (patched), node `nodeId`, over real connections to `port` */
function broker(nodeId: number, port: number, ssl: object | null = null): KafkaBroker {
  return new Broker({
    nodeId,
    logger: namespaced,
    connectionPool: new ConnectionPool({
      host: '127.0.0.1',
      port,
      ssl,
      sasl: null,
      clientId: 'fenced-test',
      logger: namespaced,
      socketFactory: socketFactory(),
      requestTimeout: 30_000,
      enforceRequestTimeout: true,
      connectionTimeout: 20_000,
    }),
  });
}

/**
 * kafkajs's broker pool (patched) knowing brokers 1 (`hung`) and 2, whose metadata names 2 alone:
 * the cluster has fenced 1
 */
function poolFencing(hung: KafkaBroker, retrier = createRetry({ retries: 0 })): Pooled {
  const live = {
    nodeId: 2,
    connectionPool: { host: '127.0.0.1', port: 1, rack: null },
    isConnected: () => true,
    isUnanswering: () => false,
    metadata: async () => ({ brokers: [{ nodeId: 2, host: '127.0.0.1', port: 1, rack: null }], topicMetadata: [] }),
  };
  return Object.assign(Object.create(BrokerPool.prototype) as Pooled, {
    brokers: { 1: hung, 2: live },
    seedBroker: live,
    metadataMaxAge: 300_000,
    retrier,
    logger,
  });
}

/** `promise`'s outcome if it settles within `ms`, else 'pending' */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ value?: T; error?: Error } | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: Error) => ({ error }),
    ),
    new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms))),
  ]);
  clearTimeout(timer);
  return outcome;
}

/**
 * The kafkajs patch treats a broker the cluster has fenced while it hangs (SIGSTOP; a frozen host;
 * a network cut without a reset) as one that died: `broker-loss-membership.test.ts` measures it
 * on the real cluster (its partitions read and written again once the controller moves them,
 * 9–17 s into the hang, where unpatched they waited for its end or the request timeout, 30 s).
 */
describe('kafkajs patch: a broker the cluster fences while it hangs', () => {
  afterEach(() => void vi.useRealTimers());

  it('fails the requests in flight to it at once, retriable, and closes its connections, once the metadata no longer names it', async () => {
    const server = await hungBroker();
    try {
      const hung = broker(1, server.port);
      const connection = await hung.connectionPool.getConnection(0);
      const inFlight = connection.send(apiVersions.protocol({ version: 0 })());
      inFlight.catch(() => undefined);
      await server.accepted(1);
      // owed its answer for 2 s: the broker counts as unanswering (the pool asks the other first)
      while (!hung.isUnanswering(2_000)) {
        expect(await within(inFlight, 100)).toBe('pending');
      }

      const pool = poolFencing(hung);
      await pool.refreshMetadata([]);
      expect(Object.keys(pool.brokers)).toEqual(['2']);
      const outcome = await within(inFlight, 2_000);
      expect(outcome).not.toBe('pending');
      const { error } = outcome as { error: Error & { retriable: boolean } };
      expect(error.name).toBe('KafkaJSConnectionClosedError');
      expect(error.retriable).toBe(true);
      expect(error.message).toBe('Broker 1 is no longer in the cluster (fenced or gone)');
      expect(await within(Promise.all(server.closes), 2_000)).not.toBe('pending');
    } finally {
      server.close();
    }
  });

  it('gives a connection being made to it up too (its TLS handshake never answered), and does not make it again', async () => {
    const server = await hungBroker();
    try {
      const hung = broker(1, server.port, { rejectUnauthorized: false });
      // the pool's retries would try the same broker again within milliseconds
      const pool = poolFencing(hung, createRetry({ retries: 5, initialRetryTime: 1, maxRetryTime: 5 }));
      const connecting = pool.findBroker({ nodeId: '1' });
      connecting.catch(() => undefined);
      await server.accepted(1);
      expect(hung.connectionPool.pool[0]!.connectingSince).not.toBeNull();
      expect(await within(connecting, 200)).toBe('pending');

      await pool.refreshMetadata([]);
      const outcome = await within(connecting, 2_000);
      expect(outcome).not.toBe('pending');
      expect((outcome as { error: Error }).error.name).toBe('KafkaJSConnectionClosedError');
      expect(hung.connectionPool.pool[0]!.connectingSince).toBeNull();
      expect(await within(Promise.all(server.closes), 2_000)).not.toBe('pending');
      // not made again: (a retry comes within milliseconds; this waits for one that must not)
      await new Promise((r) => setTimeout(r, 300));
      expect(server.sockets).toHaveLength(1);
    } finally {
      server.close();
    }
  });

  it('moves on to the next seed broker when the one it was connecting to is given up', async () => {
    const server = await hungBroker();
    const next = await hungBroker();
    try {
      const hung = broker(1, server.port, { rejectUnauthorized: false });
      let built = 0;
      const pool = Object.assign(Object.create(BrokerPool.prototype) as Pooled & { connect(): Promise<void> }, {
        brokers: {},
        seedBroker: hung,
        retrier: createRetry({ retries: 5, initialRetryTime: 1, maxRetryTime: 5 }),
        logger,
        rootLogger: namespaced,
        createBroker: (o: object) => new Broker({ ...o }),
        connectionPoolBuilder: {
          build: async () => (built++, broker(3, next.port, { rejectUnauthorized: false }).connectionPool),
        },
      });
      void pool.connect().catch(() => undefined);
      await server.accepted(1);
      await (hung as unknown as { abandon(reason: string): Promise<void> }).abandon('is no longer in the cluster');
      // the next seed is asked; the one given up is not connected to again
      await next.accepted(1);
      expect(built).toBe(1);
      expect(server.sockets).toHaveLength(1);
    } finally {
      server.close();
      next.close();
    }
  });

  it('is not connected to again by a caller that still holds it, until the metadata names it again', async () => {
    const server = await hungBroker();
    try {
      const hung = broker(1, server.port) as KafkaBroker & { connect(): Promise<void> };
      const connecting = hung.connect();
      connecting.catch(() => undefined);
      await server.accepted(1);
      // the cluster fences it (the pool's seed broker, say), and names it again once it is back
      let named = [{ nodeId: 2, host: '127.0.0.1', port: 1, rack: null }];
      const live = {
        nodeId: 2,
        connectionPool: { host: '127.0.0.1', port: 1, rack: null },
        isConnected: () => true,
        isUnanswering: () => false,
        metadata: async () => ({ brokers: named, topicMetadata: [] }),
      };
      const pool = Object.assign(Object.create(BrokerPool.prototype) as Pooled, {
        brokers: { 1: hung, 2: live },
        seedBroker: hung,
        metadataMaxAge: 300_000,
        retrier: createRetry({ retries: 0 }),
        logger,
      });
      await pool.refreshMetadata([]);
      expect((await within(connecting, 2_000)) as { error: Error }).toHaveProperty(
        'error.name',
        'KafkaJSConnectionClosedError',
      );

      // a heartbeat to the coordinator it had, a fetch that found it before the refresh: the
      // connect fails at once, retriable, and no connection is made (one to a broker that hangs
      // would wait its connection timeout, where nothing gives it up)
      const again = await within(hung.connect(), 1_000);
      expect(again).toHaveProperty('error.name', 'KafkaJSConnectionClosedError');
      expect(again).toHaveProperty('error.message', 'Broker 1 is no longer in the cluster (fenced or gone)');
      expect(again).toHaveProperty('error.retriable', true);
      expect(server.sockets).toHaveLength(1);

      // back in the cluster: the pool's again, and connected to
      named = [...named, { nodeId: 1, host: '127.0.0.1', port: server.port, rack: null }];
      await pool.refreshMetadata([]);
      expect(pool.brokers[1]).toBe(hung);
      void hung.connect().catch(() => undefined);
      await server.accepted(2);
    } finally {
      server.close();
    }
  });

  it('counts a connection unmade for longer than the bound as unanswering, as a request owed its answer', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const b = Object.assign(Object.create((Broker as unknown as { prototype: object }).prototype) as KafkaBroker, {
      connectionPool: { pool: [{ connectingSince: Date.now(), requestQueue: null }] },
    });
    vi.advanceTimersByTime(2_000);
    expect(b.isUnanswering(2_000)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(b.isUnanswering(2_000)).toBe(true);
  });

  it('asks for the metadata once a second while a broker of several leaves an answer it owes unanswered, from connect to disconnect', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const cluster = new Cluster({
      logger: namespaced,
      brokers: ['127.0.0.1:1'],
      clientId: 'c',
      connectionTimeout: 1_000,
      requestTimeout: 30_000,
      retry: { retries: 0 },
    });
    let hangs = true;
    let refreshes = 0;
    const brokers: Record<string, { isUnanswering(ms: number): boolean }> = {
      1: { isUnanswering: (ms) => hangs && ms === 2_000 },
      2: { isUnanswering: () => false },
    };
    cluster.brokerPool = Object.assign(Object.create(BrokerPool.prototype) as object, {
      brokers,
      metadata: { brokers: [], topicMetadata: [] },
      connect: async () => undefined,
      disconnect: async () => undefined,
      refreshMetadata: async () => void refreshes++,
    });
    await cluster.connect();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(refreshes).toBe(5);
    // it answers again: no more
    hangs = false;
    await vi.advanceTimersByTimeAsync(3_000);
    expect(refreshes).toBe(5);
    // with one broker there is none other to ask about it
    hangs = true;
    delete brokers[2];
    await vi.advanceTimersByTimeAsync(3_000);
    expect(refreshes).toBe(5);
    brokers[2] = { isUnanswering: () => false };
    await vi.advanceTimersByTimeAsync(1_000);
    expect(refreshes).toBe(6);
    await cluster.disconnect();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(refreshes).toBe(6);
  });
});
