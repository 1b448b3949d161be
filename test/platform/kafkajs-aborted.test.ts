import { createRequire } from 'node:module';
// The test drives kafkajs's own transactions to abort them out of order (the adapter only ever
// commits or lets a fenced one abort), so it uses the client directly.
// eslint-disable-next-line no-restricted-imports
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaAdapter } from '../../platform/kafka/adapter.ts';
import { createLogger } from '../../platform/logger.ts';
import { stackEnv, uniquePrefix } from '../support/stack.ts';

/**
 * A read_committed consumer must never see a record of an aborted transaction. The broker lists a
 * fetch's aborted transactions in the order they were aborted, not by their first offset; kafkajs
 * 2.2.4 assumed the latter and stepped into at most one aborted transaction per record, so the
 * records of transactions aborted out of order reached the consumer (the "batch handled again"
 * that the broker-restart test saw on email.queue: the first copy was an aborted transaction's).
 * The patch (patches/kafkajs+2.2.4.patch, consumer/filterAbortedMessages.js) orders them by first
 * offset and enters every one that has begun, as the Java client does.
 */
const require = createRequire(import.meta.url);
const filterAbortedMessages = require('kafkajs/src/consumer/filterAbortedMessages.js') as (args: {
  messages: { offset: string; key: Buffer | null; batchContext: { producerId: string; inTransaction: boolean } }[];
  abortedTransactions: { firstOffset: string; producerId: string }[];
}) => { offset: string }[];

describe('aborted transactions under read_committed', () => {
  const env = stackEnv();
  const kafka = new Kafka({
    brokers: env.KAFKA_BROKERS.split(','),
    clientId: 'aborted-test',
    logLevel: logLevel.NOTHING,
  });
  const adapter = new KafkaAdapter({
    brokers: env.KAFKA_BROKERS.split(','),
    clientId: 'aborted-test',
    logger: createLogger({ level: 'silent' }),
  });
  afterAll(async () => {
    await adapter.close();
  });

  it('filters records of transactions listed out of first-offset order (unit)', () => {
    const rec = (offset: number, producerId: string, abortMarker = false) => ({
      offset: String(offset),
      key: abortMarker ? Buffer.from([0, 0, 0, 0]) : Buffer.from(`k${offset}`),
      batchContext: { producerId, inTransaction: true },
    });
    // producers A, B, C each write one record (offsets 10, 11, 12), then abort C, B, A
    const messages = [
      rec(10, 'A'),
      rec(11, 'B'),
      rec(12, 'C'),
      rec(13, 'C', true),
      rec(14, 'B', true),
      rec(15, 'A', true),
    ];
    const kept = filterAbortedMessages({
      messages,
      abortedTransactions: [
        { producerId: 'C', firstOffset: '12' },
        { producerId: 'B', firstOffset: '11' },
        { producerId: 'A', firstOffset: '10' },
      ],
    });
    // only the (control) markers remain, which the batch drops afterwards
    expect(kept.map((m) => m.offset)).toEqual(['13', '14', '15']);
  });

  it('never hands a consumer the records of transactions aborted in another order than begun (broker)', async () => {
    const topic = `${uniquePrefix('aborted')}topic`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: Number(process.env.TOPIC_REPLICATION_FACTOR ?? 1) }],
    });
    await admin.disconnect();
    const producers = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const p = kafka.producer({ transactionalId: `${topic}-tx-${i}`, idempotent: true, maxInFlightRequests: 1 });
        await p.connect();
        return p;
      }),
    );
    try {
      const txns = await Promise.all(producers.map((p) => p.transaction()));
      // interleaved: each of the first three writes twice, then the fourth once
      for (const round of [0, 1])
        for (const i of [0, 1, 2])
          await txns[i]!.send({ topic, messages: [{ key: `aborted-${i}-${round}`, value: 'x', partition: 0 }] });
      await txns[3]!.send({ topic, messages: [{ key: 'committed', value: 'x', partition: 0 }] });
      // aborted last-begun first
      await txns[2]!.abort();
      await txns[1]!.abort();
      await txns[0]!.abort();
      await txns[3]!.commit();
      // The commit's markers reach the partitions after commit() returns (the coordinator writes
      // them), later on three brokers than on one: read until the committed record is there.
      // The aborted records come before it, so a read that reaches it has passed them all.
      let seen: string[] = [];
      for (const until = Date.now() + 30_000; !seen.includes('committed') && Date.now() < until;) {
        seen = [];
        await adapter.readSince(topic, 0, (r) => seen.push(r.key?.toString() ?? ''));
      }
      expect(seen).toEqual(['committed']);
    } finally {
      await Promise.all(producers.map((p) => p.disconnect()));
    }
  });
});
