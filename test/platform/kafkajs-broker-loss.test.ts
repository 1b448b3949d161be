import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as new (o: object) => Group;
const OffsetManager = require('kafkajs/src/consumer/offsetManager/index.js') as new (o: object) => {
  getCoordinator(): Promise<FakeCoordinator>;
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
  const cluster = {
    refreshMetadata: async () => void asked.refreshes++,
    findGroupCoordinator: async () => {
      asked.lookups++;
      const c = found.shift();
      if (!c) throw new Error('no coordinator to find');
      return c;
    },
  };
  const g = consumerGroup(cluster, { retries: 0 });
  g.memberId = 'member-1';
  g.generationId = 7;
  g.joinAndSync = async () => void asked.joins++;
  return { g, asked };
}

/** kafkajs's own consumer group (patched), not joined yet, over `cluster`; joins retried 3 times. */
function consumerGroup(cluster: object, retry: object = { retries: 3, initialRetryTime: 1, maxRetryTime: 5 }): Group {
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
    rebalanceTimeout: 60_000,
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

  it('gives a join up after its retries when the coordinator stays away (kafkajs restarts the consumer)', async () => {
    let lookups = 0;
    const g = consumerGroup({
      refreshMetadata: async () => undefined,
      findGroupCoordinator: async () => {
        lookups++;
        throw new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:26112');
      },
    });
    const error = await g.joinAndSync().then(
      () => null,
      (e: Error & { retriable?: boolean }) => e,
    );
    expect(lookups).toBe(4);
    expect(error?.name).toBe('KafkaJSNumberOfRetriesExceeded');
  });
});
