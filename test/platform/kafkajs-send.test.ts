import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
type Send = (args: {
  acks: number;
  timeout: number;
  compression: number;
  topicMessages: { topic: string; messages: { key: string; value: string }[] }[];
}) => Promise<unknown>;
const createSendMessages = require('kafkajs/src/producer/sendMessages.js') as (o: object) => Send;
const createRetry = require('kafkajs/src/retry/index.js') as (o: object) => (fn: unknown) => Promise<unknown>;

type FakeBroker = { nodeId: number; produce(req: object): Promise<unknown> };

/** The cluster sendMessages sees: two partitions of topic `t`, led as `leaders` says now. */
function fakeCluster(leaders: Record<number, number>, brokers: Map<number, FakeBroker>) {
  return {
    targetTopics: new Set(['t']),
    refreshMetadataIfNecessary: async () => undefined,
    refreshMetadata: async () => undefined,
    addMultipleTargetTopics: async () => undefined,
    isConnected: () => true,
    removeBroker: () => undefined,
    findTopicPartitionMetadata: () => [
      { partitionId: 0, leader: leaders[0] },
      { partitionId: 1, leader: leaders[1] },
    ],
    findLeaderForPartitions: (_t: string, partitions: string[]) => {
      const out: Record<number, number[]> = {};
      for (const p of partitions.map(Number)) (out[leaders[p]!] ??= []).push(p);
      return out;
    },
    findBroker: async ({ nodeId }: { nodeId: number }) => brokers.get(Number(nodeId)),
  };
}

/** A transactional producer's state: sequences per partition, and its AddPartitionsToTxn. */
function fakeEos(
  sequences: Map<string, number>,
  addPartitionsToTransaction: (topicData: { partitions: { partition: number }[] }[]) => Promise<void> = async () =>
    undefined,
) {
  return {
    isTransactional: () => true,
    getTransactionalId: () => 'tx',
    getProducerId: () => 7,
    getProducerEpoch: () => 0,
    acquireBrokerLock: async () => undefined,
    releaseBrokerLock: async () => undefined,
    getSequence: (_t: string, p: number) => sequences.get(String(p)) ?? 0,
    updateSequence: (_t: string, p: number, n: number) =>
      void sequences.set(String(p), (sequences.get(String(p)) ?? 0) + n),
    addPartitionsToTransaction,
  };
}

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The real sendMessages over the fakes, sending one record to each of partitions 0 and 1. */
async function sendTwo(cluster: object, eosManager: object): Promise<void> {
  const send = createSendMessages({
    logger,
    cluster,
    partitioner: ({ message }: { message: { key: string } }) => Number(message.key),
    eosManager,
    retrier: createRetry({ retries: 3, initialRetryTime: 1, maxRetryTime: 5 }),
  });
  await send({
    acks: -1,
    timeout: 1000,
    compression: 0,
    topicMessages: [
      {
        topic: 't',
        messages: [
          { key: '0', value: 'a' },
          { key: '1', value: 'b' },
        ],
      },
    ],
  });
}

/**
 * kafkajs's transactional send to a multi-broker cluster (patches/kafkajs+2.2.4.patch). One
 * broker's AddPartitionsToTxn fails with CONCURRENT_TRANSACTIONS (retriable) while another
 * broker's produce is still in flight. Unpatched, the retry started at once and re-sent to the
 * broker still in flight, with its sequence numbers already advanced, so the records were
 * appended twice: seen as duplicate releases on the three-broker cluster stack.
 */
describe('kafkajs send to several brokers, one failing, one slow', () => {
  it('sends each partition once: a retry waits for requests in flight and re-sends only what failed', async () => {
    const produced: { broker: number; partitions: number[]; firstSequence: number[] }[] = [];
    const sequences = new Map<string, number>();
    const leaders: Record<number, number> = { 0: 1, 1: 2 }; // partition → broker
    let failAddPartitions = 1;
    const broker = (nodeId: number) => ({
      nodeId,
      async produce({ topicData }: { topicData: { partitions: { partition: number; firstSequence: number }[] }[] }) {
        // broker 1 answers slowly: its request is in flight when broker 2's step fails
        if (nodeId === 1) await new Promise((r) => setTimeout(r, 50));
        const parts = topicData.flatMap((t) => t.partitions);
        produced.push({
          broker: nodeId,
          partitions: parts.map((p) => p.partition),
          firstSequence: parts.map((p) => p.firstSequence),
        });
        return {
          topics: topicData.map(() => ({
            topicName: 't',
            partitions: parts.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })),
          })),
        };
      },
    });
    const brokers = new Map([1, 2].map((id) => [id, broker(id)]));
    const cluster = fakeCluster(leaders, brokers);
    const eosManager = fakeEos(sequences, async (topicData) => {
      const onBroker2 = topicData.some((t) => t.partitions.some((p) => leaders[p.partition] === 2));
      if (onBroker2 && failAddPartitions-- > 0) {
        throw Object.assign(new Error('another concurrent operation on the same transaction'), {
          name: 'KafkaJSProtocolError',
          retriable: true,
          type: 'CONCURRENT_TRANSACTIONS',
        });
      }
    });
    await sendTwo(cluster, eosManager);
    // each partition produced once, with sequence 0
    expect(
      produced
        .map((p) => p.partitions)
        .flat()
        .sort(),
    ).toEqual([0, 1]);
    expect(produced.flatMap((p) => p.firstSequence)).toEqual([0, 0]);
  });

  it('sends a partition whose leadership moved to a broker that had already answered (records were dropped)', async () => {
    const produced: { broker: number; partition: number }[] = [];
    const leaders: Record<number, number> = { 0: 1, 1: 2 }; // partition → broker
    let broker2Down = true;
    const broker = (nodeId: number) => ({
      nodeId,
      async produce({ topicData }: { topicData: { partitions: { partition: number }[] }[] }) {
        if (nodeId === 2 && broker2Down) {
          // broker 2 dies mid-send; its partition's leadership moves to broker 1
          broker2Down = false;
          leaders[1] = 1;
          throw Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' });
        }
        const parts = topicData.flatMap((t) => t.partitions);
        for (const p of parts) produced.push({ broker: nodeId, partition: p.partition });
        return {
          topics: [
            {
              topicName: 't',
              partitions: parts.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })),
            },
          ],
        };
      },
    });
    const brokers = new Map([1, 2].map((id) => [id, broker(id)]));
    const sequences = new Map<string, number>();
    await sendTwo(fakeCluster(leaders, brokers), fakeEos(sequences));
    expect(produced.sort((a, b) => a.partition - b.partition)).toEqual([
      { broker: 1, partition: 0 },
      { broker: 1, partition: 1 },
    ]);
  });
});

const createEosManager = require('kafkajs/src/producer/eosManager/index.js') as (o: object) => {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
  addPartitionsToTransaction(topicData: { topic: string; partitions: { partition: number }[] }[]): Promise<void>;
  sendOffsets(o: { consumerGroupId: string; topics: object[] }): Promise<void>;
};

/** kafkajs's own error for a protocol error code, as its response decoders throw it */
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error & { type: string };
};
const concurrentTransactions = () => createErrorFromCode(51);

/**
 * the real transaction manager over a coordinator whose AddPartitionsToTxn and AddOffsetsToTxn
 * answer with `errors`, in turn, and whose TxnOffsetCommit answers with `commitErrors`
 */
function eosOver(errors: Error[], retries = 0, commitErrors: Error[] = []) {
  const counts = { lookups: 0, addOffsets: 0, commits: 0 };
  const refuse = async () => {
    const e = errors.shift();
    if (e) throw e;
  };
  const coordinator = {
    nodeId: 1,
    initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
    addPartitionsToTxn: refuse,
    addOffsetsToTxn: async () => {
      counts.addOffsets++;
      await refuse();
    },
    txnOffsetCommit: async () => {
      counts.commits++;
      const e = commitErrors.shift();
      if (e) throw e;
    },
  };
  const eos = createEosManager({
    logger: { ...logger, namespace: () => logger },
    transactional: true,
    transactionalId: 'tx',
    cluster: {
      retry: { retries, initialRetryTime: 1, maxRetryTime: 2 },
      refreshMetadataIfNecessary: async () => undefined,
      findGroupCoordinator: async () => {
        counts.lookups++;
        return coordinator;
      },
      findBroker: async () => coordinator,
    },
  });
  return { eos, counts };
}

/**
 * A transaction begun right after its producer's last commit: the coordinator answers its
 * AddPartitionsToTxn with CONCURRENT_TRANSACTIONS until it has written the last one's markers.
 * That refusal comes from the coordinator itself and says nothing stale: unpatched, kafkajs
 * answered it with a Metadata request and forgot the coordinator, so the retry cost a
 * FindCoordinator too (a quarter of the gateway's instant orders at 10 a second did).
 */
describe('kafkajs and CONCURRENT_TRANSACTIONS', () => {
  it('retries the send without refreshing the metadata', async () => {
    let refreshes = 0;
    let refusals = 1;
    const broker = {
      nodeId: 1,
      async produce({ topicData }: { topicData: { partitions: { partition: number }[] }[] }) {
        const parts = topicData.flatMap((t) => t.partitions);
        return {
          topics: [
            {
              topicName: 't',
              partitions: parts.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })),
            },
          ],
        };
      },
    };
    const cluster = {
      ...fakeCluster({ 0: 1, 1: 1 }, new Map([[1, broker]])),
      refreshMetadata: async () => void refreshes++,
    };
    await sendTwo(
      cluster,
      fakeEos(new Map(), async () => {
        if (refusals-- > 0) throw concurrentTransactions();
      }),
    );
    expect(refusals).toBe(-1); // refused once, then sent
    expect(refreshes).toBe(0);
  });

  async function addPartitionsAfter(errors: Error[]): Promise<number> {
    const { eos, counts } = eosOver(errors);
    await eos.initProducerId();
    eos.beginTransaction();
    for (let partition = 0; ; partition++) {
      try {
        await eos.addPartitionsToTransaction([{ topic: 't', partitions: [{ partition }] }]);
        return counts.lookups;
      } catch {
        // refused: the send would try again
      }
    }
  }

  it('keeps the transaction coordinator when it refuses for now, and looks it up again when it has moved', async () => {
    expect(concurrentTransactions().type).toBe('CONCURRENT_TRANSACTIONS');
    // one lookup, for InitProducerId: the coordinator answered as the coordinator
    expect(await addPartitionsAfter([concurrentTransactions(), concurrentTransactions()])).toBe(1);
    // moved (NOT_COORDINATOR, code 16; not available, 15; loading, 14) or gone: looked up again
    // before the next request. (Kept on code 16, a producer asked the old coordinator for ever:
    // the chaos test's stages stalled once Kafka moved leaderships back to a restarted broker.)
    for (const code of [16, 15, 14]) expect(await addPartitionsAfter([createErrorFromCode(code)])).toBe(2);
    const lost = Object.assign(new Error('Connection error: read ECONNRESET'), { name: 'KafkaJSConnectionError' });
    expect(await addPartitionsAfter([lost])).toBe(2);
  });

  it('retries AddOffsetsToTxn when the coordinator has moved, looking it up again (kafkajs names code 16 NOT_COORDINATOR_FOR_GROUP)', async () => {
    const { eos, counts } = eosOver([createErrorFromCode(16), createErrorFromCode(51)], 5);
    await eos.initProducerId();
    eos.beginTransaction();
    await eos.sendOffsets({
      consumerGroupId: 'g',
      topics: [{ topic: 't', partitions: [{ partition: 0, offset: '1' }] }],
    });
    // refused as moved, then for now, then taken
    expect(counts.addOffsets).toBe(3);
    // InitProducerId's lookup, the one after the move, and the group coordinator's for the offsets
    expect(counts.lookups).toBe(3);
  });
});

/**
 * A stage's offsets go to its group's coordinator in the transaction (TxnOffsetCommit). When a
 * broker dies or Kafka moves leaderships back to a restarted one, the group's coordinator moves
 * and is loading for a moment: the commit must find it again rather than fail the transaction.
 */
describe('kafkajs and a group coordinator that is loading, has moved or was lost', () => {
  /** sendOffsets through a group coordinator whose TxnOffsetCommit answers with `errors` first */
  async function commitAfter(errors: Error[]) {
    const { eos, counts } = eosOver([], 8, errors);
    await eos.initProducerId();
    eos.beginTransaction();
    const sent = eos.sendOffsets({
      consumerGroupId: 'g',
      topics: [{ topic: 't', partitions: [{ partition: 0, offset: '1' }] }],
    });
    return { sent, counts };
  }

  it('retries TxnOffsetCommit when the group coordinator is loading, has moved or was lost, and looks it up again unless it is loading', async () => {
    type KafkaError = new (message: string, o: object) => Error;
    const { KafkaJSConnectionError, KafkaJSConnectionClosedError, KafkaJSRequestTimeoutError } =
      require('kafkajs/src/errors.js') as Record<
        'KafkaJSConnectionError' | 'KafkaJSConnectionClosedError' | 'KafkaJSRequestTimeoutError',
        KafkaError
      >;
    const lost = new KafkaJSConnectionError('Connection error: read ECONNRESET', { broker: 'h:1' });
    // (a dead coordinator's connection closed, or one given up when the cluster fenced its broker:
    // matched by name before, this failed the transaction)
    const closed = new KafkaJSConnectionClosedError('Broker 3 is no longer in the cluster (fenced or gone)', {
      host: 'h',
      port: 1,
    });
    const timedOut = new KafkaJSRequestTimeoutError('Request TxnOffsetCommit timed out', { broker: 'h:1' });
    // kafkajs names codes 14, 16 and 15 GROUP_LOAD_IN_PROGRESS, NOT_COORDINATOR_FOR_GROUP and
    // GROUP_COORDINATOR_NOT_AVAILABLE; unpatched, its lists named them otherwise, and the first
    // of them failed the transaction (the stage then handled its batch again)
    const { sent, counts } = await commitAfter([
      createErrorFromCode(14),
      createErrorFromCode(16),
      createErrorFromCode(15),
      lost,
      closed,
      timedOut,
    ]);
    await sent;
    expect(counts.commits).toBe(7);
    // InitProducerId's lookup, the group coordinator's, and one after each but the loading one
    expect(counts.lookups).toBe(7);
  });

  it('fails TxnOffsetCommit at once when the group has moved on from the member (KIP-447 fencing)', async () => {
    for (const code of [22, 25]) {
      const { sent, counts } = await commitAfter([createErrorFromCode(code)]);
      await expect(sent, `code ${code}`).rejects.toThrow(createErrorFromCode(code).message);
      expect(counts.commits).toBe(1);
    }
  });
});
