import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaAdapter, kafkaConnection } from '../../platform/kafka/adapter.ts';
import { createLogger } from '../../platform/logger.ts';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { testClients, testConfig, uniquePrefix } from '../support/stack.ts';

describe('Kafka adapter', () => {
  const prefix = uniquePrefix('adapter');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1' });
  const { kafka, codec } = testClients(config);
  const topic = topicName(prefix, 'orders');
  const out = topicName(prefix, 'ordersDue');
  const group = `${prefix}group`;

  // (the group coordinator answered once, so a fresh broker's first transaction finds it)
  beforeAll(async () => {
    await provision(kafka, codec, config);
    await kafka.committedOffset(group, topic, 0);
  });
  afterAll(() => kafka.close());

  it('reads a committed offset only once the transaction that moves it is over (require_stable)', async () => {
    const producer = await kafka.transactionalProducer(`${prefix}tx`);
    await producer.init();
    const offsets = (offset: string) => ({ groupId: group, topic, partition: 0, offset });
    await producer.commit([{ topic: out, key: 'a', value: Buffer.from('a') }], offsets('5'));
    expect(await kafka.committedOffset(group, topic, 0)).toBe('5');

    let during: Promise<string | null> | null = null;
    let answeredDuring = false;
    await producer.commit([{ topic: out, key: 'b', value: Buffer.from('b') }], offsets('9'), {
      // Written, commit not yet asked for: the group has offset 9 pending. A read now must wait for
      // the outcome, not answer the 5 from before (which is what made a stage handle records twice).
      committing: async () => {
        during = kafka.committedOffset(group, topic, 0);
        void during.then(() => (answeredDuring = true));
        await new Promise((r) => setTimeout(r, 1_000));
        expect(answeredDuring).toBe(false);
      },
    });
    expect(await during).toBe('9');
    await producer.close();
  });

  it('commits transactions of offsets alone back to back: the coordinator still finishing the last one is waited out', async () => {
    // A stage that writes nothing (order-view) begins each transaction with AddOffsetsToTxn right
    // after the last EndTxn; the coordinator answers CONCURRENT_TRANSACTIONS until that one's
    // markers are written. Unpatched kafkajs failed the transaction on it (hundreds of times in a
    // 15,000-order e2e run, each a rewind and a partition verified again).
    const producer = await kafka.transactionalProducer(`${prefix}offsets-only`);
    await producer.init();
    const failures: string[] = [];
    for (let i = 1; i <= 150; i++)
      await producer
        .commit([], { groupId: `${group}-views`, topic, partition: 0, offset: String(i) })
        .catch((err: Error) => failures.push(err.message));
    expect(failures).toEqual([]);
    expect(await kafka.committedOffset(`${group}-views`, topic, 0)).toBe('150');
    await producer.close();
  });

  it('starts a consumer of a group whose offsets a transaction still holds pending (only committedOffset waits)', async () => {
    const plain = await kafka.plainProducer();
    await plain.send([{ topic, key: 'r', value: Buffer.from('r') }]);
    await plain.close();
    const groupId = `${prefix}held`;
    const producer = await kafka.transactionalProducer(`${prefix}tx-held`);
    await producer.init();
    const crashes: Error[] = [];
    await producer.commit(
      [{ topic: out, key: 'h', value: Buffer.from('h') }],
      { groupId, topic, partition: 0, offset: '1' },
      {
        // The group's offset is pending in this open transaction, as when a stage's producer went
        // away with the broker. A consumer must still join and read: the runner's re-verification
        // settles the transaction. (Asking for stable offsets on joining crashed it until the
        // broker timed the transaction out.)
        committing: async () => {
          let got!: () => void;
          const firstBatch = new Promise<void>((resolve) => (got = resolve));
          const consumer = await kafka.batchConsumer({
            groupId,
            topics: [topic],
            partitionsConcurrently: 1,
            onCrash: (err) => crashes.push(err),
            eachBatch: async (batch) => {
              if (batch.records.length > 0) got();
            },
          });
          await firstBatch;
          await consumer.stop();
          expect(crashes).toEqual([]);
        },
      },
    );
    expect(await kafka.committedOffset(groupId, topic, 0)).toBe('1');
    await producer.close();
  });

  // A stage's fetch waits for many bytes or a short while (fewer, larger transactions under load),
  // which made an idle stage ask every broker ten times a second and a lone record wait the whole
  // while at every hop. Idle, a fetch asks for any byte and waits long: the broker answers it
  // with the first committed record.
  it('answers an idle consumer’s fetch with the first committed record, not after its wait for bytes', async () => {
    const idleTopic = topicName(prefix, 'ordersEnriched');
    const WAIT_FOR_BYTES_MS = 10_000;
    let got!: () => void;
    const first = new Promise<void>((resolve) => (got = resolve));
    const consumer = await kafka.batchConsumer({
      groupId: `${prefix}idle`,
      topics: [idleTopic],
      partitionsConcurrently: 1,
      fetchMinBytes: 1024 * 1024,
      fetchMaxWaitMs: WAIT_FOR_BYTES_MS,
      fetchIdleWaitMs: 4_000,
      eachBatch: async (batch) => {
        if (batch.records.length > 0) got();
      },
    });
    try {
      await consumer.joined;
      const producer = await kafka.transactionalProducer(`${prefix}tx-idle`);
      await producer.init();
      await producer.commit([{ topic: idleTopic, key: 'k', value: Buffer.from('v') }]);
      const committed = Date.now();
      await first;
      await producer.close();
      // a fetch that waited for its bytes would have answered after WAIT_FOR_BYTES_MS
      expect(Date.now() - committed).toBeLessThan(WAIT_FOR_BYTES_MS / 2);
    } finally {
      await consumer.stop();
    }
  });

  // A member's heartbeats do not wait on its fetch loop (kafkajs patch: the runner's heartbeat
  // timer, as the Java client's heartbeat thread). Unpatched, kafkajs heartbeated only when a fetch
  // returned or a batch ended, so a long poll longer than the session cost the member its place:
  // here, every fetch of an idle topic waits 8 s and the session is 6 s.
  it('keeps a member whose fetches wait longer than its session in its generation', async () => {
    const quiet = topicName(prefix, 'emailQueue');
    const SESSION_MS = 6_000;
    const FETCH_WAIT_MS = 8_000;
    // the consumer's answered requests, by time: its long polls and the heartbeats between
    const fetches: { at: number; durationMs: number }[] = [];
    const heartbeats: number[] = [];
    let twoLongPolls: () => void = () => undefined;
    const polled = new Promise<void>((resolve) => (twoLongPolls = resolve));
    const watched = new KafkaAdapter({
      ...kafkaConnection(config),
      clientId: 'test-long-poll',
      logger: createLogger({ level: 'warn' }),
      onRequest: (client, api, durationMs) => {
        if (client !== 'consumer') return;
        if (api === 'Heartbeat') heartbeats.push(Date.now());
        if (api !== 'Fetch') return;
        fetches.push({ at: Date.now(), durationMs });
        if (fetches.filter((f) => f.durationMs > SESSION_MS).length >= 2) twoLongPolls();
      },
    });
    const joins: { generationId: number; memberId: string }[] = [];
    const consumer = await watched.batchConsumer({
      groupId: `${prefix}long-poll`,
      topics: [quiet],
      partitionsConcurrently: 1,
      sessionTimeoutMs: SESSION_MS,
      fetchMaxWaitMs: FETCH_WAIT_MS,
      onAssignment: (_, member) => joins.push(member),
      eachBatch: async () => undefined,
    });
    try {
      await consumer.joined;
      // two of its long polls answered, each longer than the session: unpatched, the group
      // dropped the member 6 s into the first, and it joined again after it
      await polled;
      expect(joins).toHaveLength(1);
      // kept by heartbeats sent while a poll waited (its timer's), not between polls
      const [first] = fetches.filter((f) => f.durationMs > SESSION_MS);
      const during = heartbeats.filter((t) => t > first!.at - first!.durationMs + 500 && t < first!.at - 500);
      expect(during.length).toBeGreaterThan(0);
    } finally {
      await consumer.stop();
      await watched.close();
    }
  });

  // KIP-447 (kafkajs patch: TxnOffsetCommit version 3): one producer commits for any partition of
  // a member, and the group coordinator refuses the transaction of a member the group moved on
  // from, so a zombie's outputs abort with its offsets.
  it('commits a member’s offsets for several partitions in one transaction, and refuses a stale member’s', async () => {
    const groupId = `${prefix}fenced`;
    const fencedOut = topicName(prefix, 'ordersApproved');
    const members: { name: string; generationId: number; memberId: string }[] = [];
    let joinedBy: (n: number) => void = () => undefined;
    const joinsOf = (count: number) =>
      new Promise<void>((resolve) => {
        joinedBy = (n) => n >= count && resolve();
        joinedBy(members.length);
      });
    const join = (name: string) =>
      kafka.batchConsumer({
        groupId,
        topics: [topic],
        partitionsConcurrently: 1,
        onAssignment: (_assignment, member) => {
          members.push({ name, ...member });
          joinedBy(members.length);
        },
        eachBatch: async () => undefined,
      });
    const a = await join('a');
    await a.joined;
    const first = members.at(-1)!;
    const producer = await kafka.transactionalProducer(`${prefix}tx-fenced`);
    await producer.init();
    // (positions in topics the members do not read: a position past a read topic's end would be
    // reset by its reader, kafkajs committing "earliest" on OFFSET_OUT_OF_RANGE)
    const enriched = topicName(prefix, 'ordersEnriched');
    const positions = (offset: string) => [
      { topic: enriched, partition: 0, offset },
      { topic: out, partition: 0, offset },
    ];
    const member = (m: { generationId: number; memberId: string }) => ({
      generationId: m.generationId,
      memberId: m.memberId,
    });
    await producer.commit([{ topic: fencedOut, key: 'f', value: Buffer.from('kept-1') }], {
      groupId,
      member: member(first),
      positions: positions('3'),
    });
    expect(await kafka.committedOffset(groupId, enriched, 0)).toBe('3');
    expect(await kafka.committedOffset(groupId, out, 0)).toBe('3');

    // a second member joins: the group's generation moves on, and a's old one is stale
    const b = await join('b');
    try {
      await joinsOf(3);
      const latest = members.at(-1)!;
      expect(latest.generationId).toBeGreaterThan(first.generationId);
      await expect(
        producer.commit([{ topic: fencedOut, key: 'f', value: Buffer.from('zombie') }], {
          groupId,
          member: member(first),
          positions: positions('7'),
        }),
      ).rejects.toThrow(/generation/i);
      await expect(
        producer.commit([{ topic: fencedOut, key: 'f', value: Buffer.from('stranger') }], {
          groupId,
          member: { generationId: latest.generationId, memberId: 'not-a-member' },
          positions: positions('8'),
        }),
      ).rejects.toThrow(/member/i);
      expect(await kafka.committedOffset(groupId, enriched, 0)).toBe('3');
      // the producer goes on (its failed transactions aborted) with the current membership
      await producer.commit([{ topic: fencedOut, key: 'f', value: Buffer.from('kept-2') }], {
        groupId,
        member: member(latest),
        positions: positions('9'),
      });
      expect(await kafka.committedOffset(groupId, enriched, 0)).toBe('9');
      expect(await kafka.committedOffset(groupId, out, 0)).toBe('9');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await producer.close();
    }
    // what a read-committed reader sees: the two kept, neither refused transaction's record
    const seen: string[] = [];
    let done!: () => void;
    const both = new Promise<void>((resolve) => (done = resolve));
    const reader = await kafka.collect({
      groupId: `${prefix}fenced-reader`,
      topics: [fencedOut],
      onRecord: (r) => {
        seen.push(r.value?.toString() ?? '');
        if (seen.includes('kept-2')) done();
      },
    });
    await both;
    await reader.stop();
    expect(seen).toEqual(['kept-1', 'kept-2']);
  });

  /** Whether `work` settles within `ms` (an upper bound on the wait, not a sleep: it ends as `work` does). */
  const settlesWithin = (work: Promise<unknown>, ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
    ]).finally(() => clearTimeout(timer));
  };

  // kafkajs retries a producer's requests for good (PRODUCER_RETRY), and unpatched it went on after
  // the producer was closed, reconnecting to do so: a transactional producer the gateway dropped
  // as too slow could later complete its InitProducerId and fence the one that replaced it.
  it('ends a closed transactional producer’s retries: its transaction fails at once', async () => {
    const producer = await kafka.transactionalProducer(`${prefix}tx-closed`);
    await producer.init();
    // a topic that does not exist: the producer retries its metadata until it does
    let attempted = false;
    const stuck = producer.commit([{ topic: `${prefix}no-such-topic`, key: 'k', value: Buffer.from('v') }], undefined, {
      committing: () => {
        attempted = true;
      },
    });
    stuck.catch(() => undefined);
    expect(await settlesWithin(stuck, 1_500)).toBe(false);
    await producer.close();
    expect(await settlesWithin(stuck, 5_000)).toBe(true);
    await expect(stuck).rejects.toThrow();
    expect(attempted).toBe(false);
  });

  it('ends a closed plain producer’s retries: its send fails at once', async () => {
    const plain = await kafka.plainProducer();
    const stuck = plain.send([{ topic: `${prefix}no-such-topic`, key: 'k', value: Buffer.from('v') }]);
    stuck.catch(() => undefined);
    expect(await settlesWithin(stuck, 1_500)).toBe(false);
    await plain.close();
    expect(await settlesWithin(stuck, 5_000)).toBe(true);
    await expect(stuck).rejects.toThrow();
  });
});
