import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';

const require = createRequire(import.meta.url);
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as new (o: object) => Group;
const OffsetManager = require('kafkajs/src/consumer/offsetManager/index.js') as new (o: object) => {
  getCoordinator(): Promise<FakeCoordinator>;
};
const Runner = require('kafkajs/src/consumer/runner.js') as new (o: object) => {
  running: boolean;
  heartbeatBetweenBatches(): Promise<void>;
  startHeartbeats(): void;
  stopHeartbeats(): void;
};
const BrokerPool = require('kafkajs/src/cluster/brokerPool.js') as {
  prototype: {
    withBroker(cb: (b: { nodeId: string }) => Promise<unknown>, askLast?: number): Promise<unknown>;
    findConnectedBroker(): Promise<{ nodeId: string }>;
    refreshMetadata(topics: string[]): Promise<void>;
  };
};
const createRetry = require('kafkajs/src/retry/index.js') as (o: object) => unknown;
const createFetcher = require('kafkajs/src/consumer/fetcher.js') as (o: object) => {
  start(): Promise<void>;
  stop(): Promise<void>;
};
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (o: object) => {
  push(r: object): void;
  fulfillRequest(r: { correlationId: number; payload: Buffer | null; size: number }): void;
  waitingFor(now?: number): number;
  destroy(): void;
};
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error & { type: string };
};
const { MemberAssignment } = require('kafkajs/src/consumer/assignerProtocol.js') as {
  MemberAssignment: { encode(a: { version: number; assignment: Record<string, number[]> }): Buffer };
};
type ErrorClass = new (e: unknown, o?: object) => Error;
const {
  KafkaJSConnectionError,
  KafkaJSConnectionClosedError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSRequestTimeoutError,
} = require('kafkajs/src/errors.js') as {
  KafkaJSConnectionError: ErrorClass;
  KafkaJSConnectionClosedError: ErrorClass;
  KafkaJSNumberOfRetriesExceeded: ErrorClass;
  KafkaJSNonRetriableError: ErrorClass;
  KafkaJSRequestTimeoutError: ErrorClass;
};

interface Group {
  memberId: string | null;
  generationId: number | null;
  coordinator: FakeCoordinator | null;
  coordinatorLost: boolean;
  heartbeatInFlight: boolean;
  lastRequest: number;
  recoverFromFetch(e: unknown): Promise<void>;
  heartbeat(o: { interval: number }): Promise<void>;
  currentCoordinator(): Promise<FakeCoordinator>;
  joinAndSync(): Promise<void>;
}

interface FakeCoordinator {
  nodeId: number;
  heartbeats: number;
  isConnected(): boolean;
  heartbeat(payload: object): Promise<void>;
}

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** A coordinator whose heartbeats answer `answers` in turn (an error thrown, or fine). */
function coordinator(nodeId: number, answers: (Error | null)[] = []): FakeCoordinator {
  return {
    nodeId,
    heartbeats: 0,
    isConnected: () => true,
    async heartbeat() {
      this.heartbeats++;
      const a = answers.shift();
      if (a) throw a;
    },
  };
}

/**
 * kafkajs's own consumer group (patched), in generation 7, over a cluster that counts what it is
 * asked: metadata refreshes, and coordinator lookups (answered by `found` in turn).
 */
function group(found: FakeCoordinator[] = []) {
  const asked = { refreshes: 0, lookups: 0, joins: 0 };
  /** each lookup's broker to ask last */
  const askedLast: unknown[] = [];
  const cluster = {
    refreshMetadata: async () => void asked.refreshes++,
    findGroupCoordinator: async ({ askLast }: { askLast?: number }) => {
      asked.lookups++;
      askedLast.push(askLast);
      const c = found.shift();
      if (!c) throw new Error('no coordinator to find');
      return c;
    },
  };
  const g = consumerGroup(cluster, { retries: 0 });
  g.memberId = 'member-1';
  g.generationId = 7;
  g.joinAndSync = async () => void asked.joins++;
  return { g, asked, askedLast };
}

/**
 * kafkajs's own consumer group (patched), not joined yet, over `cluster`; its requests retried 3
 * times, a join for up to `rebalanceTimeout`.
 */
function consumerGroup(
  cluster: object,
  retry: object = { retries: 3, initialRetryTime: 1, maxRetryTime: 5 },
  rebalanceTimeout = 60_000,
): Group {
  return new ConsumerGroup({
    retry,
    cluster,
    groupId: 'g',
    topics: ['t'],
    topicConfigurations: {},
    logger: { ...logger, namespace: () => logger },
    instrumentationEmitter: { emit: () => undefined },
    assigners: [],
    sessionTimeout: 10_000,
    rebalanceTimeout,
    maxWaitTimeInMs: 100,
  });
}

/**
 * The kafkajs patch keeps a consumer in its group through a broker's death
 * (`test/chaos/broker-loss-membership.test.ts` does it on a real cluster): kafkajs's own
 * ConsumerGroup, the errors built as kafkajs builds them.
 */
describe('kafkajs patch: a consumer group through a broker’s death', () => {
  it('goes on after a fetch from a broker that cannot be reached: the metadata is refreshed, nothing rejoins', async () => {
    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:26092');
    for (const e of [
      refused,
      // as a retrier gives it up at once (connecting to a broker that refuses is not retried there)
      new KafkaJSNonRetriableError(refused, { cause: refused }),
      new KafkaJSRequestTimeoutError('Request Fetch(key: 1, version: 11) timed out'),
      // the socket closed under a request, or under a SASL exchange (kafkajs-sasl-transport.test.ts)
      new KafkaJSConnectionClosedError('Closed connection'),
    ]) {
      const { g, asked } = group();
      await g.recoverFromFetch(e);
      expect(asked, e.name).toEqual({ refreshes: 1, lookups: 0, joins: 0 });
    }
  });

  it('refreshes the metadata only when a partition’s leader has moved (no join: a leader’s join rebalances the group)', async () => {
    // NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH
    for (const code of [6, 5, 74, 75]) {
      const { g, asked } = group();
      await g.recoverFromFetch(createErrorFromCode(code));
      expect(asked, `code ${code}`).toEqual({ refreshes: 1, lookups: 0, joins: 0 });
    }
    // a partition the cluster no longer knows still makes the member join again, as before
    const { g, asked } = group();
    await g.recoverFromFetch(createErrorFromCode(3));
    expect(asked).toEqual({ refreshes: 1, lookups: 0, joins: 1 });
  });

  it('still fails a fetch on what it does not know', async () => {
    const { g } = group();
    await expect(g.recoverFromFetch(new Error('something else'))).rejects.toThrow('something else');
    const wrapped = new Error('not a connection');
    await expect(g.recoverFromFetch(new KafkaJSNonRetriableError(wrapped, { cause: wrapped }))).rejects.toThrow();
  });

  it('looks a lost coordinator up again and heartbeats there in the generation it has', async () => {
    const dead = coordinator(1, [new KafkaJSConnectionError('Connection error: connect ECONNREFUSED')]);
    const moved = coordinator(2, [createErrorFromCode(16)]); // NOT_COORDINATOR: loaded elsewhere meanwhile
    const next = coordinator(3);
    const { g, asked } = group([moved, next]);
    g.coordinator = dead;

    await expect(g.heartbeat({ interval: 0 })).rejects.toThrow('ECONNREFUSED');
    expect(g.coordinatorLost).toBe(true);
    await expect(g.heartbeat({ interval: 0 })).rejects.toThrow('not the correct coordinator');
    expect(g.coordinatorLost).toBe(true);
    await g.heartbeat({ interval: 0 });

    expect(g.coordinatorLost).toBe(false);
    expect(g.coordinator).toBe(next);
    expect([dead.heartbeats, moved.heartbeats, next.heartbeats]).toEqual([1, 1, 1]);
    expect(asked).toEqual({ refreshes: 0, lookups: 2, joins: 0 });
    expect(g.generationId).toBe(7);
  });

  it('does not look a coordinator up for an answer that is about the member (that one rejoins)', async () => {
    // REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID
    for (const code of [27, 22, 25]) {
      const { g, asked } = group();
      g.coordinator = coordinator(1, [createErrorFromCode(code)]);
      await expect(g.heartbeat({ interval: 0 })).rejects.toThrow();
      expect(g.coordinatorLost, `code ${code}`).toBe(false);
      expect(asked.lookups).toBe(0);
    }
  });

  it('gives the offset manager the group’s coordinator now, not the one it joined with', async () => {
    const joinedWith = coordinator(1);
    const now = coordinator(2);
    const { g } = group([now]);
    g.coordinator = joinedWith;
    // an offset read found it moved: NOT_COORDINATOR (unpatched, a rejoin of the group)
    await g.recoverFromFetch(createErrorFromCode(16));
    expect(g.coordinatorLost).toBe(true);
    const offsets = new OffsetManager({
      cluster: { committedOffsets: () => ({}) },
      topicConfigurations: {},
      instrumentationEmitter: { emit: () => undefined },
      memberAssignment: {},
      coordinator: joinedWith,
      groupCoordinator: () => g.currentCoordinator(),
      groupId: 'g',
      generationId: 7,
      memberId: 'member-1',
    });
    expect(await offsets.getCoordinator()).toBe(now);
    expect(g.coordinatorLost).toBe(false);
  });

  it('joins through a coordinator that cannot be reached or is not available yet by looking it up again (no crash)', async () => {
    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:26112');
    // as the cluster's FindCoordinator retrier gives up on a dead coordinator it still names
    const givenUp = new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 8, retryTime: 2_000 });
    const asked = { refreshes: 0, lookups: 0, joins: 0 };
    const live = {
      nodeId: 2,
      async joinGroup() {
        asked.joins++;
        if (asked.joins === 1) throw createErrorFromCode(15); // COORDINATOR_NOT_AVAILABLE: still loading
        return { generationId: 8, leaderId: 'member-0', memberId: 'member-1', members: [], groupProtocol: 'x' };
      },
      syncGroup: async () => ({ memberAssignment: MemberAssignment.encode({ version: 0, assignment: {} }) }),
    };
    const answers: (Error | typeof live)[] = [givenUp, live, live];
    const g = consumerGroup({
      refreshMetadata: async () => void asked.refreshes++,
      findGroupCoordinator: async () => {
        asked.lookups++;
        const a = answers.shift();
        if (!a || a instanceof Error) throw a ?? new Error('no coordinator to find');
        return a;
      },
      findTopicPartitionMetadata: () => [],
      committedOffsets: () => ({}),
    });

    await g.joinAndSync();

    expect(asked).toEqual({ refreshes: 2, lookups: 3, joins: 2 });
    expect([g.memberId, g.generationId, g.coordinator]).toEqual(['member-1', 8, live]);
  });

  it('joins a group whose new coordinator is still loading it by trying again (no crash)', async () => {
    const asked = { lookups: 0, joins: 0, syncs: 0 };
    const loading = {
      nodeId: 2,
      async joinGroup() {
        asked.joins++;
        // COORDINATOR_LOAD_IN_PROGRESS: the broker has just become the group's coordinator
        if (asked.joins === 1) throw createErrorFromCode(14);
        return { generationId: 8, leaderId: 'member-0', memberId: 'member-1', members: [], groupProtocol: 'x' };
      },
      async syncGroup() {
        asked.syncs++;
        if (asked.syncs === 1) throw createErrorFromCode(14);
        return { memberAssignment: MemberAssignment.encode({ version: 0, assignment: {} }) };
      },
    };
    const g = consumerGroup({
      refreshMetadata: async () => undefined,
      findGroupCoordinator: async () => (asked.lookups++, loading),
      findTopicPartitionMetadata: () => [],
      committedOffsets: () => ({}),
    });

    await g.joinAndSync();

    expect(asked).toEqual({ lookups: 3, joins: 3, syncs: 2 });
    expect([g.memberId, g.generationId]).toEqual(['member-1', 8]);
  });

  it('still fails a join on what is not the coordinator’s absence', async () => {
    const g = consumerGroup({
      refreshMetadata: async () => undefined,
      findGroupCoordinator: async () => ({
        nodeId: 1,
        joinGroup: async () => {
          throw createErrorFromCode(24); // INVALID_GROUP_ID
        },
      }),
    });
    await expect(g.joinAndSync()).rejects.toThrow('The configured groupId is invalid');
  });

  it('joins through more of the coordinator’s moves than the consumer’s count of retries', async () => {
    const asked = { lookups: 0, joins: 0 };
    const live = {
      nodeId: 2,
      async joinGroup() {
        asked.joins++;
        // a join during a broker's death: the old coordinator refused, then "not the coordinator"
        // twice, then a member id the new one does not know, then it is loading the group
        const answers = [
          new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:26112'),
          createErrorFromCode(16),
          createErrorFromCode(16),
          createErrorFromCode(25),
          createErrorFromCode(14),
        ];
        const a = answers[asked.joins - 1];
        if (a) throw a;
        return { generationId: 8, leaderId: 'member-0', memberId: 'member-1', members: [], groupProtocol: 'x' };
      },
      syncGroup: async () => ({ memberAssignment: MemberAssignment.encode({ version: 0, assignment: {} }) }),
    };
    const g = consumerGroup({
      refreshMetadata: async () => undefined,
      findGroupCoordinator: async () => (asked.lookups++, live),
      findTopicPartitionMetadata: () => [],
      committedOffsets: () => ({}),
    });

    await g.joinAndSync();

    // 5 failures against 3 retries (unpatched, the consumer crashed on the fourth)
    expect(asked.joins).toBe(6);
    expect([g.memberId, g.generationId]).toEqual(['member-1', 8]);
  });

  it('gives a join up once its rebalance timeout has passed with the coordinator away (kafkajs restarts the consumer)', async () => {
    let lookups = 0;
    const g = consumerGroup(
      {
        refreshMetadata: async () => undefined,
        findGroupCoordinator: async () => {
          lookups++;
          throw new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:26112');
        },
      },
      undefined,
      300,
    );
    const started = Date.now();
    const error = await g.joinAndSync().then(
      () => null,
      (e: Error & { retriable?: boolean }) => e,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    // tried again past the consumer's 3 retries, every few milliseconds (its back-off)
    expect(lookups).toBeGreaterThan(4);
    expect(error?.name).toBe('KafkaJSNumberOfRetriesExceeded');
  });
});

/** A coordinator that takes heartbeats and answers none (a hung broker's), then answers `later`. */
function hung(nodeId: number): FakeCoordinator & { answer(): void } {
  let answer = () => undefined as void;
  return {
    nodeId,
    heartbeats: 0,
    isConnected: () => true,
    heartbeat() {
      this.heartbeats++;
      return new Promise<void>((resolve) => (answer = resolve));
    },
    answer: () => answer(),
  };
}

/** kafkajs's own runner (patched) over `consumerGroup`, heartbeating every `heartbeatInterval` */
function runnerOver(consumerGroup: object, heartbeatInterval: number) {
  const namespaced: object = { ...logger, namespace: () => namespaced };
  return new Runner({
    logger: namespaced,
    consumerGroup,
    instrumentationEmitter: { emit: () => undefined },
    concurrency: 1,
    eachBatch: async () => undefined,
    heartbeatInterval,
    onCrash: () => undefined,
    autoCommit: false,
  });
}

/**
 * A broker that hangs (a frozen process or host, a cut without a reset) takes requests and answers
 * none: `test/chaos/broker-loss-membership.test.ts` SIGSTOPs one on a real cluster.
 */
describe('kafkajs patch: a consumer group through a broker that hangs', () => {
  afterEach(() => void vi.useRealTimers());

  it('counts a coordinator that does not answer a heartbeat within a third of the session as lost, and asks the other brokers first', async () => {
    vi.useFakeTimers();
    const frozen = hung(3);
    const next = coordinator(1);
    const { g, askedLast } = group([next]);
    g.coordinator = frozen;

    const beat = g.heartbeat({ interval: 0 });
    const failed = beat.then(
      () => null,
      (e: Error) => e,
    );
    expect(g.heartbeatInFlight).toBe(true);
    await vi.advanceTimersByTimeAsync(3_332);
    expect(g.coordinatorLost).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await failed;
    expect([error?.name, error?.message]).toEqual([
      'KafkaJSRequestTimeoutError',
      'Heartbeat not answered within 3333 ms',
    ]);
    expect([g.coordinatorLost, g.heartbeatInFlight]).toEqual([true, false]);
    // its answer, coming after all, changes nothing
    frozen.answer();
    await vi.advanceTimersByTimeAsync(0);
    expect(g.coordinatorLost).toBe(true);

    await g.heartbeat({ interval: 0 });
    expect(askedLast).toEqual([3]);
    expect([g.coordinator, g.coordinatorLost, next.heartbeats, g.generationId]).toEqual([next, false, 1, 7]);
  });

  /** a broker pool (kafkajs's own methods) over brokers that are connected or not, and answer or not */
  function pool(brokers: Record<string, { connected: boolean; answering: boolean }>) {
    return Object.assign(Object.create(BrokerPool.prototype) as typeof BrokerPool.prototype, {
      brokers: Object.fromEntries(
        Object.entries(brokers).map(([id, b]) => [
          id,
          { isConnected: () => b.connected, isUnanswering: (ms: number) => !b.answering && ms === 2000 },
        ]),
      ),
      findBroker: async ({ nodeId }: { nodeId: string }) => ({ nodeId }),
    });
  }

  it('asks the brokers that answer before one that leaves its requests unanswered, and a coordinator just lost last', async () => {
    for (let i = 0; i < 20; i++) {
      const asked: string[] = [];
      const brokers = pool({
        1: { connected: true, answering: true },
        2: { connected: true, answering: false },
        3: { connected: true, answering: true },
        4: { connected: false, answering: true },
      });
      const askAll = async ({ nodeId }: { nodeId: string }) => {
        asked.push(nodeId);
        throw new Error('no answer');
      };
      await brokers.withBroker(askAll, 3);
      expect(asked.slice(2), `attempt ${i}: ${asked.join(', ')}`).toEqual(['2', '3']);
      asked.length = 0;
      await brokers.withBroker(askAll);
      expect(asked.at(-1), `attempt ${i}: ${asked.join(', ')}`).toBe('2');
      // the metadata is asked of a connected broker that answers
      expect(['1', '3']).toContain((await brokers.findConnectedBroker()).nodeId);
    }
    // none connected answers: one that answers is connected to first
    const brokers = pool({ 1: { connected: true, answering: false }, 2: { connected: false, answering: true } });
    expect((await brokers.findConnectedBroker()).nodeId).toBe('2');
  });

  it('gives a metadata request up after 5 s when another broker can be asked, and asks that one next', async () => {
    vi.useFakeTimers();
    /** a broker whose metadata requests answer (its own cluster's two brokers) or not */
    const broker = (nodeId: number, answers: boolean) => {
      const b = {
        nodeId,
        connected: nodeId === 1,
        unanswering: false,
        asked: 0,
        connectionPool: { host: '127.0.0.1', port: 26000 + nodeId, rack: null },
        isConnected: () => b.connected,
        isUnanswering: () => b.unanswering,
        connect: async () => void (b.connected = true),
        disconnect: async () => undefined,
        metadata: () => {
          b.asked++;
          if (!answers) return new Promise(() => undefined);
          return Promise.resolve({
            brokers: [1, 2].map((id) => ({ nodeId: id, host: '127.0.0.1', port: 26000 + id, rack: null })),
            topicMetadata: [],
          });
        },
      };
      return b;
    };
    const hung = broker(1, false);
    const answering = broker(2, true);
    const brokers = Object.assign(Object.create(BrokerPool.prototype) as typeof BrokerPool.prototype, {
      brokers: { 1: hung, 2: answering },
      seedBroker: hung,
      metadataMaxAge: 300_000,
      retrier: createRetry({ retries: 0 }),
      logger,
    });

    // asked of the connected one, which takes the request and answers nothing
    const first = brokers.refreshMetadata([]).then(
      () => null,
      (e: Error) => e,
    );
    await vi.advanceTimersByTimeAsync(4_999);
    expect(hung.asked).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const error = await first;
    expect([error?.name, error?.message]).toEqual([
      'KafkaJSRequestTimeoutError',
      'Metadata not answered within 5000 ms by broker 1',
    ]);
    // its request still unanswered, the next refresh connects to the other broker and asks it
    hung.unanswering = true;
    await brokers.refreshMetadata([]);
    expect([hung.asked, answering.asked]).toEqual([1, 1]);
    expect((brokers as unknown as { metadata: { brokers: unknown[] } }).metadata.brokers).toHaveLength(2);

    // with one broker only there is no one else to ask: its request timeout alone bounds it
    const alone = Object.assign(Object.create(BrokerPool.prototype) as typeof BrokerPool.prototype, {
      brokers: { 1: broker(1, false) },
      seedBroker: hung,
      metadataMaxAge: 300_000,
      retrier: createRetry({ retries: 0 }),
      logger,
    });
    let settled = false;
    void alone.refreshMetadata([]).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(settled).toBe(false);
  });

  it('drops a broker gone from the metadata at once, not once its connections are given up', async () => {
    let abandoned = 0;
    /** a broker fenced while it hangs (whose connections, given up, take their time to close) */
    const hung = {
      nodeId: 1,
      connectionPool: { host: '127.0.0.1', port: 26001, rack: null },
      isConnected: () => true,
      isUnanswering: () => true,
      abandon: () => (abandoned++, new Promise(() => undefined)),
    };
    const live = {
      nodeId: 2,
      connectionPool: { host: '127.0.0.1', port: 26002, rack: null },
      isConnected: () => true,
      isUnanswering: () => false,
      // the cluster's metadata no longer names the fenced broker
      metadata: async () => ({
        brokers: [{ nodeId: 2, host: '127.0.0.1', port: 26002, rack: null }],
        topicMetadata: [],
      }),
    };
    const brokers = Object.assign(Object.create(BrokerPool.prototype) as typeof BrokerPool.prototype, {
      brokers: { 1: hung, 2: live } as Record<string, unknown>,
      seedBroker: live,
      metadataMaxAge: 300_000,
      retrier: createRetry({ retries: 0 }),
      logger,
    });
    await brokers.refreshMetadata([]);
    expect(Object.keys((brokers as unknown as { brokers: object }).brokers)).toEqual(['2']);
    expect(abandoned).toBe(1);
  });

  it('stops a fetcher waiting on a broker’s answer without waiting for it, and drops what it brings back', async () => {
    let answer: (batches: object[]) => void = () => undefined;
    const pushed: object[] = [];
    const fetcher = createFetcher({
      nodeId: 2,
      workerQueue: { push: async (...batches: object[]) => void pushed.push(...batches) },
      partitionAssignments: new Map(),
      fetch: () => new Promise<object[]>((resolve) => (answer = resolve)),
      logger: { ...logger, namespace: () => logger },
    });
    const running = fetcher.start();
    await new Promise((r) => setImmediate(r));
    // the fetchers' rebuild stops it while its fetch waits on a broker that hangs
    let stopped = false;
    await Promise.race([fetcher.stop().then(() => (stopped = true)), new Promise((r) => setTimeout(r, 1_000))]);
    expect(stopped).toBe(true);
    // the broker answers after all: nothing of it is handed on, and the fetcher's loop ends
    answer([{ topic: 't', partition: 0 }]);
    await running;
    expect(pushed).toEqual([]);
  });

  it('still waits for a fetcher whose batches are being handled', async () => {
    let handled: () => void = () => undefined;
    let fetched = 0;
    const fetcher = createFetcher({
      nodeId: 1,
      workerQueue: { push: () => new Promise<void>((resolve) => (handled = resolve)) },
      partitionAssignments: new Map(),
      fetch: async () => (fetched++ === 0 ? [{ topic: 't', partition: 0 }] : []),
      logger: { ...logger, namespace: () => logger },
    });
    void fetcher.start();
    await new Promise((r) => setImmediate(r));
    let stopped = false;
    const stopping = fetcher.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    handled();
    await stopping;
    expect(stopped).toBe(true);
  });

  /** kafkajs's request queue of a connection (patched), with the default request timeout */
  const requestQueue = () =>
    new RequestQueue({
      maxInFlightRequests: null,
      requestTimeout: 30_000,
      enforceRequestTimeout: false,
      clientId: 'c',
      broker: 'b',
      logger,
    });

  it('knows how long a connection has waited with requests in flight and nothing answered', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const queue = requestQueue();
    const request = (correlationId: number) => ({
      entry: { correlationId, resolve: () => undefined, reject: () => undefined },
      expectResponse: true,
      sendRequest: () => undefined,
    });
    expect(queue.waitingFor()).toBe(0);
    queue.push(request(1));
    vi.advanceTimersByTime(1_500);
    queue.push(request(2));
    vi.advanceTimersByTime(1_000);
    expect(queue.waitingFor()).toBe(2_500);
    // an answer to either says the broker answers: the wait counts from it
    queue.fulfillRequest({ correlationId: 2, payload: null, size: 0 });
    vi.advanceTimersByTime(700);
    expect(queue.waitingFor()).toBe(700);
    queue.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    expect(queue.waitingFor()).toBe(0);
    queue.destroy();
  });

  it('does not count a long poll as unanswered while the broker may hold it (a fetch’s maxWaitTime)', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const queue = requestQueue();
    // a fetch sets its own timeout: its maxWaitTime (5 s) and a little
    queue.push({
      entry: { correlationId: 1, resolve: () => undefined, reject: () => undefined },
      expectResponse: true,
      requestTimeout: 5_100,
      sendRequest: () => undefined,
    });
    vi.advanceTimersByTime(5_000);
    expect(queue.waitingFor()).toBe(0);
    vi.advanceTimersByTime(1_100);
    expect(queue.waitingFor()).toBe(1_000);
    // any other request is owed its answer from the moment it is sent
    queue.push({
      entry: { correlationId: 2, resolve: () => undefined, reject: () => undefined },
      expectResponse: true,
      sendRequest: () => undefined,
    });
    vi.advanceTimersByTime(500);
    expect(queue.waitingFor()).toBe(1_500);
    queue.destroy();
  });

  it('does not hold its fetchers for a heartbeat under way, and fails the next of them on what it answered about the member', async () => {
    let answer: (e: Error | null) => void = () => undefined;
    let sent = 0;
    // (one heartbeat at a time, shared by its callers, as kafkajs's)
    let underWay: Promise<void> | null = null;
    const consumerGroup = {
      coordinatorLost: false,
      heartbeatInFlight: false,
      generationId: 7,
      heartbeat() {
        if (underWay) return underWay;
        sent++;
        this.heartbeatInFlight = true;
        underWay = new Promise<void>((resolve, reject) => {
          answer = (e) => {
            this.heartbeatInFlight = false;
            underWay = null;
            if (e) reject(e);
            else resolve();
          };
        });
        return underWay;
      },
      commitOffsets: async () => undefined,
    };
    const runner = runnerOver(consumerGroup, 0);

    // the first waits for its heartbeat (the coordinator answers as it should)
    const first = runner.heartbeatBetweenBatches();
    answer(null);
    await first;
    // one under way: the fetchers go on without waiting for it
    const waiting = runner.heartbeatBetweenBatches();
    expect(consumerGroup.heartbeatInFlight).toBe(true);
    await runner.heartbeatBetweenBatches();
    await runner.heartbeatBetweenBatches();
    // it answers that the group rebalances: the next fails on it (and the fetch loop rejoins)
    answer(createErrorFromCode(27));
    await expect(waiting).rejects.toThrow('rebalanc');
    await expect(runner.heartbeatBetweenBatches()).rejects.toThrow('rebalanc');
    expect(sent).toBe(2);

    // an answer for a generation the member has since left fails nothing
    const beat = runner.heartbeatBetweenBatches();
    const old = runner.heartbeatBetweenBatches();
    answer(createErrorFromCode(27));
    await expect(beat).rejects.toThrow('rebalanc');
    await old;
    consumerGroup.generationId = 8;
    const fresh = runner.heartbeatBetweenBatches();
    answer(null);
    await fresh;
    expect(sent).toBe(4);
  });
  it('heartbeats on a timer of its own while the fetch loop is held, and not while it joins or once the loop has shown no life for the rebalance timeout', async () => {
    vi.useFakeTimers();
    let sent = 0;
    let answer: Error | null = null;
    // (kafkajs's consumer group sends a heartbeat only once the interval has passed since the last answered)
    const consumerGroup = {
      coordinatorLost: false,
      heartbeatInFlight: false,
      joining: false,
      generationId: 7,
      rebalanceTimeout: 60_000,
      lastRequest: Date.now(),
      async heartbeat({ interval }: { interval: number }) {
        if (Date.now() < this.lastRequest + interval) return;
        sent++;
        if (answer) throw answer;
        this.lastRequest = Date.now();
      },
      commitOffsets: async () => undefined,
    };
    const runner = runnerOver(consumerGroup, 2_000);
    runner.running = true;
    runner.startHeartbeats();
    try {
      // no fetch returns (a long poll, fetchers being rebuilt, a fetch to a broker that hangs):
      // one heartbeat every interval all the same (a session of 10 s is kept)
      await vi.advanceTimersByTimeAsync(10_000);
      expect(sent).toBe(5);

      // while the member joins, none
      consumerGroup.joining = true;
      await vi.advanceTimersByTimeAsync(6_000);
      expect(sent).toBe(5);
      consumerGroup.joining = false;
      await vi.advanceTimersByTimeAsync(500);
      expect(sent).toBe(6);

      // what one answers about the member fails the fetch loop's next call, in its generation
      answer = createErrorFromCode(27);
      await vi.advanceTimersByTimeAsync(2_000);
      answer = null;
      await expect(runner.heartbeatBetweenBatches()).rejects.toThrow('rebalanc');

      // while the coordinator is lost, the fetch loop leaves the lookups to the timer: a fetch
      // that returns at once, again and again, sends no heartbeat
      // (the new coordinator not yet the group's: NOT_COORDINATOR, looked up again at the timer's
      // pace, every 500 ms)
      consumerGroup.coordinatorLost = true;
      consumerGroup.lastRequest = 0;
      answer = createErrorFromCode(16);
      const before = sent;
      for (let i = 0; i < 50; i++) await runner.heartbeatBetweenBatches();
      expect(sent).toBe(before);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(sent).toBe(before + 4);
      consumerGroup.coordinatorLost = false;
      answer = null;

      // a fetch loop that shows no life for the rebalance timeout (stuck for good): the timer
      // stops heartbeating, and the group gives its partitions to the others
      await runner.heartbeatBetweenBatches();
      await vi.advanceTimersByTimeAsync(60_000);
      const stuck = sent;
      await vi.advanceTimersByTimeAsync(10_000);
      expect(sent).toBe(stuck);
      // and it heartbeats again once the loop moves
      await runner.heartbeatBetweenBatches();
      await vi.advanceTimersByTimeAsync(2_000);
      expect(sent).toBeGreaterThan(stuck);

      // stopped, none
      runner.stopHeartbeats();
      const stopped = sent;
      await vi.advanceTimersByTimeAsync(10_000);
      expect(sent).toBe(stopped);
    } finally {
      runner.stopHeartbeats();
    }
  });
});
