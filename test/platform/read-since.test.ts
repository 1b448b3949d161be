// The test holds a transaction open with kafkajs's own API (the adapter's producers commit in one
// call), so it uses the client directly.
// eslint-disable-next-line no-restricted-imports
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaAdapter } from '../../platform/kafka/adapter.ts';
import { createLogger } from '../../platform/logger.ts';
import { stackEnv, uniquePrefix } from '../support/stack.ts';

/**
 * `readSince` answers "is this record on the topic?" for the releaser's reconciliation, a
 * transactional sink whose commit was cut off, and a gateway taking over an instant order. A
 * record committed after another producer's transaction began sits above the partition's last
 * stable offset until that transaction ends. The read used to stop at the last stable offset as
 * it was when the read began, so it missed such a record, and its caller wrote it again (the
 * releaser put 702 released notifications back in the schedule in one chaos run: the chain then
 * queued them twice).
 */
describe('readSince', () => {
  const env = stackEnv();
  const kafka = new Kafka({
    brokers: env.KAFKA_BROKERS.split(','),
    clientId: 'read-since-test',
    logLevel: logLevel.NOTHING,
  });
  const adapter = new KafkaAdapter({
    brokers: env.KAFKA_BROKERS.split(','),
    clientId: 'read-since-test',
    logger: createLogger({ level: 'silent' }),
  });
  afterAll(async () => {
    await adapter.close();
  });

  const topicWith = async (partitions: number) => {
    const topic = `${uniquePrefix('read-since')}topic`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic, numPartitions: partitions, replicationFactor: Number(process.env.TOPIC_REPLICATION_FACTOR ?? 1) },
      ],
    });
    await admin.disconnect();
    return topic;
  };
  const transactional = async (id: string) => {
    const p = kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    return p;
  };

  /**
   * A topic of two partitions with a transaction left open on partition 0 (its record `in-open`)
   * and, committed after that one began, `behind-open` on partition 0 (if `behind`) and `beside`
   * on partition 1. `held`: the open transaction; `close` disconnects both producers.
   */
  const withOpenTransaction = async (behind: boolean) => {
    const topic = await topicWith(2);
    const [open, other] = await Promise.all([transactional(`${topic}-open`), transactional(`${topic}-other`)]);
    const close = () => Promise.all([open.disconnect(), other.disconnect()]);
    try {
      const held = await open.transaction();
      await held.send({ topic, messages: [{ key: 'in-open', value: 'x', partition: 0 }] });
      const t = await other.transaction();
      await t.send({
        topic,
        messages: [
          ...(behind ? [{ key: 'behind-open', value: 'x', partition: 0 }] : []),
          { key: 'beside', value: 'x', partition: 1 },
        ],
      });
      await t.commit();
      return { topic, held, close };
    } catch (err) {
      await close();
      throw err;
    }
  };

  it.each(['commits', 'aborts'] as const)(
    'reads a record committed behind another transaction that is still open, once that one %s',
    async (ending) => {
      const { topic, held, close } = await withOpenTransaction(true);
      try {
        const seen: string[] = [];
        let settled = false;
        const read = adapter
          .readSince(topic, 0, (r) => seen.push(r.key?.toString() ?? ''))
          .finally(() => (settled = true));
        // The read cannot have passed partition 0 yet: its end is the open transaction's. Wait
        // for partition 1 to be read (an event), then check the read is still under way.
        await expect.poll(() => seen.includes('beside'), { timeout: 30_000 }).toBe(true);
        expect(settled).toBe(false);
        if (ending === 'commits') await held.commit();
        else await held.abort();
        await read;
        expect(seen.sort()).toEqual(
          ending === 'commits' ? ['behind-open', 'beside', 'in-open'] : ['behind-open', 'beside'],
        );
      } finally {
        await close();
      }
    },
    90_000,
  );

  it('ends with its caller’s signal, while a transaction still holds it', async () => {
    const { topic, held, close } = await withOpenTransaction(false);
    try {
      const stopped = new AbortController();
      const seen: string[] = [];
      const read = adapter.readSince(topic, 0, (r) => seen.push(r.key?.toString() ?? ''), stopped.signal);
      // reading: partition 1 is read, partition 0 waits for the open transaction
      await expect.poll(() => seen.includes('beside'), { timeout: 30_000 }).toBe(true);
      const reason = new Error('the caller stopped waiting');
      stopped.abort(reason);
      await expect(read).rejects.toBe(reason);
      expect(seen).toEqual(['beside']);
      await held.abort();
    } finally {
      await close();
    }
  }, 90_000);

  it('answers at once on an empty topic and reads only from the time asked', async () => {
    const topic = await topicWith(1);
    const seen: string[] = [];
    await adapter.readSince(topic, 0, (r) => seen.push(r.key?.toString() ?? ''));
    expect(seen).toEqual([]);
    const p = await transactional(`${topic}-p`);
    try {
      const t1 = await p.transaction();
      await t1.send({
        topic,
        messages: [{ key: 'old', value: 'x', partition: 0, timestamp: String(Date.now() - 3_600_000) }],
      });
      await t1.commit();
      const t2 = await p.transaction();
      await t2.send({ topic, messages: [{ key: 'new', value: 'x', partition: 0 }] });
      await t2.commit();
      await adapter.readSince(topic, Date.now() - 60_000, (r) => seen.push(r.key?.toString() ?? ''));
      expect(seen).toEqual(['new']);
    } finally {
      await p.disconnect();
    }
  });
});
