// The test drives kafkajs's own consumer through a seek and two rebalances (the adapter's seek is
// only reachable from inside the runner's failure path), so it uses the client directly.
// eslint-disable-next-line no-restricted-imports
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, stackEnv, uniquePrefix } from '../support/stack.ts';

/**
 * kafkajs 2.2.4 keeps a seek until the member next fetches the partition, across rebalances: a
 * seek of a partition that was then (or already) another member's was applied when the
 * partition came back to this member, however much later, and the partition was read again from
 * there. The runner seeks a partition back after a failed commit, also after a commit refused
 * because the member rejoined meanwhile (the partition may be another's by then). CI's chaos run
 * fits such a seek coming back 121 s later: 2415 notifications queued twice. The patch
 * (patches/kafkajs+2.2.4.patch, consumer/consumerGroup.js) drops, once the member has an
 * assignment, a seek of a partition it does not hold, and at each join the seeks of partitions it
 * no longer holds, as the Java client keeps a position only for a partition assigned.
 */
describe('kafkajs patch: a seek of a partition that is another member’s', () => {
  const env = stackEnv();
  // the round-robin assigner orders members by id, which begins with the client id: with one
  // partition, the member whose client id sorts first holds it
  const client = (id: string) =>
    new Kafka({ brokers: env.KAFKA_BROKERS.split(','), clientId: id, logLevel: logLevel.NOTHING });
  const consumers: Consumer[] = [];
  afterAll(async () => {
    for (const c of consumers) await c.disconnect().catch(() => undefined);
  });

  it.each([
    { when: 'made while the member held the partition, which moved before its next fetch', inBatch: true },
    { when: 'made after the partition moved to another member', inBatch: false },
  ])('is not applied when the partition comes back: $when', { timeout: 120_000 }, async ({ inBatch }) => {
    const prefix = uniquePrefix('seek');
    const topic = `${prefix}topic`;
    const groupId = `${prefix}group`;
    const first = client(`a-${prefix}`);
    const second = client(`z-${prefix}`);
    const admin = second.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = second.producer();
    await producer.connect();
    const produce = (from: number, count: number) =>
      producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` })),
      });
    await produce(0, 10);

    // `z` holds the partition alone, reads 0-9 and commits 10; in the first case it then seeks
    // back to 0 and keeps heartbeating in its batch, so it fetches no more, until the group
    // rebalances
    const z = second.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 200, maxWaitTimeInMs: 100 });
    consumers.push(z);
    const joins: number[][] = [];
    z.on(z.events.GROUP_JOIN, (e) => joins.push(e.payload.memberAssignment[topic] ?? []));
    const read: { offset: number; join: number }[] = [];
    let done = false;
    await z.connect();
    await z.subscribe({ topics: [topic], fromBeginning: true });
    await z.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        for (const m of batch.messages) read.push({ offset: Number(m.offset), join: joins.length });
        if (done || Number(batch.lastOffset()) < 9) return;
        await z.commitOffsets([{ topic, partition: 0, offset: '10' }]);
        done = true;
        if (!inBatch) return;
        z.seek({ topic, partition: 0, offset: '0' });
        for (;;) {
          await heartbeat(); // throws once the group rebalances
          await new Promise((r) => setTimeout(r, 100));
        }
      },
    });
    await eventually(async () => done, 'the first member to read and commit', 30_000);

    // `a` joins and takes the partition
    const a = first.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 200, maxWaitTimeInMs: 100 });
    consumers.push(a);
    let aHolds = false;
    a.on(a.events.GROUP_JOIN, (e) => (aHolds = (e.payload.memberAssignment[topic] ?? []).includes(0)));
    await a.connect();
    await a.subscribe({ topics: [topic], fromBeginning: true });
    await a.run({ autoCommit: false, eachBatch: async () => undefined });
    await eventually(
      async () => aHolds && joins.at(-1)?.length === 0,
      'the partition to move to the other member',
      60_000,
    );
    // in the second case `z` seeks now, holding nothing (as the runner does after a refused commit)
    if (!inBatch) z.seek({ topic, partition: 0, offset: '0' });

    // `a` leaves: the partition comes back to `z`, which reads on from the committed offset
    await a.disconnect();
    await eventually(async () => joins.at(-1)?.[0] === 0, 'the partition to come back', 60_000);
    await produce(10, 5);
    await eventually(async () => read.some((r) => r.offset === 14), 'the records written after', 60_000);
    await producer.disconnect();
    await z.disconnect();

    const comeBack = joins.length;
    expect(read.filter((r) => r.join === comeBack).map((r) => r.offset)).toEqual([10, 11, 12, 13, 14]);
  });
});
