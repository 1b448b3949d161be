import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// The kafkajs patch (patches/kafkajs+2.2.4.patch) writes uncompressed record batches in one pass
// and computes CRC-32C eight bytes at a time. kafkajs's own Record and RecordBatch encoders are
// left in place (the compressed path uses them): they are the reference, byte for byte.
const require = createRequire(import.meta.url);
type Message = { key?: Buffer | string | null; value: Buffer | string | null; headers?: object; timestamp?: string };
const encodeUncompressed = require('kafkajs/src/protocol/recordBatch/v0/encodeUncompressed.js') as (args: {
  messages: Message[];
  transactional: boolean;
  producerId: unknown;
  producerEpoch: number;
  firstSequence: number;
  dateNow?: number;
}) => Buffer;
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (args: object) => unknown;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (args: object) => Promise<{ buffer: Buffer }>;
};
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown };
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;

/** kafkajs 2.2.4's produce v3 partition encoding before the patch, as the reference */
async function kafkajsRecordSet(messages: Message[], args: { transactional: boolean; dateNow: number }) {
  const stamps = messages
    .map((m) => m.timestamp)
    .filter((t) => t != null)
    .sort();
  const timestamps = stamps.length === 0 ? [args.dateNow] : stamps;
  const firstTimestamp = timestamps[0]!;
  const records = messages.map((m, i) =>
    Record({ ...m, offsetDelta: i, timestampDelta: Number(m.timestamp || args.dateNow) - Number(firstTimestamp) }),
  );
  const batch = await RecordBatch({
    records,
    firstTimestamp,
    maxTimestamp: timestamps.at(-1),
    producerId: Long.fromValue('4711'),
    producerEpoch: 3,
    firstSequence: 42,
    transactional: args.transactional,
    lastOffsetDelta: records.length - 1,
  });
  return batch.buffer;
}

/** the byte-at-a-time CRC-32C (Castagnoli, reflected 0x82F63B78) */
function crc32cBytewise(buf: Buffer): number {
  let crc = ~0;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe('kafkajs patch: record batch encoding', () => {
  const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;
  const someKey = () => pick([null, undefined, randomUUID(), Buffer.from(randomUUID()), 'ø-å-€', Buffer.alloc(0)]);
  const someValue = () => pick([null, randomBytes(Math.floor(Math.random() * 3_000)), 'value ✓', '']);
  const someHeaders = () =>
    pick([undefined, {}, { 'dead-letter-reason': 'bad ✗' }, { a: Buffer.from('x'), b: ['1', '2'], c: '' }]);
  const now = 1_790_000_000_000;
  const someTimestamp = () => pick([undefined, String(now - Math.floor(Math.random() * 86_400_000))]);

  it('writes the same bytes as kafkajs for random batches (keys, values, headers, timestamps)', async () => {
    for (let round = 0; round < 300; round++) {
      const messages = Array.from({ length: 1 + Math.floor(Math.random() * 40) }, () => ({
        key: someKey(),
        value: someValue(),
        headers: someHeaders(),
        timestamp: someTimestamp(),
      }));
      const transactional = round % 2 === 0;
      const ours = encodeUncompressed({
        messages,
        transactional,
        producerId: Long.fromValue('4711'),
        producerEpoch: 3,
        firstSequence: 42,
        dateNow: now,
      });
      expect(ours.equals(await kafkajsRecordSet(messages, { transactional, dateNow: now }))).toBe(true);
    }
  });

  it('takes the same defaults as kafkajs when no producer id, epoch or sequence is given (not idempotent)', async () => {
    const messages = [{ key: 'k', value: 'v', timestamp: String(now) }];
    const ours = encodeUncompressed({ messages, dateNow: now } as Parameters<typeof encodeUncompressed>[0]);
    const theirs = await RecordBatch({
      records: [Record({ ...messages[0], offsetDelta: 0, timestampDelta: 0 })],
      firstTimestamp: String(now),
      maxTimestamp: String(now),
    });
    expect(ours.equals(theirs.buffer)).toBe(true);
  });

  it('computes CRC-32C as the byte-at-a-time definition does, at every length and alignment', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283); // the standard check value
    const big = randomBytes(4_096);
    for (let len = 0; len < 80; len++) {
      for (const start of [0, 1, 3, 7]) {
        const slice = big.subarray(start, start + len);
        expect(crc32C(slice)).toBe(crc32cBytewise(slice));
      }
    }
    expect(crc32C(big)).toBe(crc32cBytewise(big));
  });
});

// The patch also keeps a transactional producer's coordinators (transaction and consumer group)
// once found, as the Java client does, and looks one up again only after a request to it failed.
// Unpatched, kafkajs sent FindCoordinator before every AddPartitionsToTxn, AddOffsetsToTxn, EndTxn
// and TxnOffsetCommit: 30,388 of some 73,000 requests in a stage process in `./dev bench --suite e2e`.
const createEosManager = require('kafkajs/src/producer/eosManager/index.js') as (args: object) => {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
  addPartitionsToTransaction(topics: { topic: string; partitions: { partition: number }[] }[]): Promise<void>;
  sendOffsets(args: { consumerGroupId: string; topics: object[] }): Promise<void>;
  commit(): Promise<void>;
};

describe('a transactional producer with the patch', () => {
  it('finds each coordinator once, and again only after a request to it failed', async () => {
    const lookups: string[] = [];
    const requests: string[] = [];
    let failNext: string | null = null;
    const broker = (nodeId: number) =>
      new Proxy(
        { nodeId },
        {
          get: (target, name) =>
            name === 'nodeId'
              ? target.nodeId
              : name === 'then' // (not a promise)
                ? undefined
                : (_args: unknown) => {
                    requests.push(`${String(name)}@${nodeId}`);
                    if (failNext === name) {
                      failNext = null;
                      return Promise.reject(
                        Object.assign(new Error('not the coordinator'), { type: 'NOT_COORDINATOR' }),
                      );
                    }
                    return Promise.resolve({ producerId: 7, producerEpoch: 0 });
                  },
        },
      );
    const cluster = {
      retry: { retries: 0 },
      refreshMetadataIfNecessary: () => Promise.resolve(),
      findBroker: ({ nodeId }: { nodeId: number }) => Promise.resolve(broker(nodeId)),
      findGroupCoordinator: ({ coordinatorType }: { coordinatorType: number }) => {
        lookups.push(coordinatorType === 1 ? 'transaction' : 'group');
        return Promise.resolve(broker(coordinatorType === 1 ? 2 : 3));
      },
    };
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const eos = createEosManager({ logger: quiet, cluster, transactional: true, transactionalId: 'tx-1' });
    await eos.initProducerId();
    const transaction = async () => {
      eos.beginTransaction();
      await eos.addPartitionsToTransaction([{ topic: 't', partitions: [{ partition: 0 }] }]);
      await eos.sendOffsets({
        consumerGroupId: 'g',
        topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '1' }] }],
      });
      await eos.commit();
    };
    for (let i = 0; i < 3; i++) await transaction();
    expect(lookups).toEqual(['transaction', 'group']);
    expect(requests.filter((r) => r.startsWith('endTxn'))).toEqual(['endTxn@2', 'endTxn@2', 'endTxn@2']);
    expect(requests.filter((r) => r.startsWith('txnOffsetCommit'))).toEqual([
      'txnOffsetCommit@3',
      'txnOffsetCommit@3',
      'txnOffsetCommit@3',
    ]);

    // a request the coordinator refuses: the next one looks the coordinator up again
    lookups.length = 0;
    failNext = 'addPartitionsToTxn';
    eos.beginTransaction();
    await expect(eos.addPartitionsToTransaction([{ topic: 't', partitions: [{ partition: 1 }] }])).rejects.toThrow(
      'not the coordinator',
    );
    await eos.addPartitionsToTransaction([{ topic: 't', partitions: [{ partition: 1 }] }]);
    await eos.commit();
    expect(lookups).toEqual(['transaction']);
  });
});
