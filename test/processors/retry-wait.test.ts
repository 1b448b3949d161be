import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type {
  GroupOffsets,
  KafkaAdapter,
  OutboundRecord,
  TransactionalProducer,
} from '../../platform/kafka/adapter.ts';
import { retriable } from '../../platform/errors.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRegistry, createStageMetrics } from '../../platform/metrics.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import { StageRunner } from '../../processors/runtime/runner.ts';
import { defineStage, emit } from '../../processors/runtime/stage.ts';
import { oneRecordBatch } from '../support/fake-batch.ts';
import { testConfig, uniquePrefix } from '../support/stack.ts';

const require = createRequire(import.meta.url);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error & { type: string };
};
const { KafkaJSConnectionError, KafkaJSNonRetriableError, isRebalancing } = require('kafkajs/src/errors.js') as {
  isRebalancing: (e: unknown) => boolean;
  KafkaJSConnectionError: new (message: string) => Error;
  KafkaJSNonRetriableError: new (e: Error, o: { cause: Error }) => Error;
};

type Options = Parameters<KafkaAdapter['batchConsumer']>[0];

let attempts = 0;
const attemptsOf = () => attempts;

/**
 * A stage runner over a fake adapter and codec, started and joined (generation 1): its stage fails
 * a record's first attempt; `committedOffset` answers as given (null: nothing committed yet).
 */
async function started(
  committedOffset: () => Promise<string | null> = async () => null,
  /** what each commit waits for before it is done (say, a transaction coordinator that hangs) */
  committing: () => Promise<void> = async () => undefined,
  settings: Record<string, string> = {},
) {
  const prefix = uniquePrefix('retrywait');
  attempts = 0;
  const stage = defineStage({
    name: 'retrying',
    input: 'orders',
    outputs: ['ordersDue'],
    handle: (value, ctx) => {
      attempts++;
      if (attempts === 1) throw retriable('DEPENDENCY_UNAVAILABLE', 'not yet');
      return emit({ topic: 'ordersDue', key: ctx.key ?? '', value } as never);
    },
  });
  let options: Options | null = null;
  const committed: { records: OutboundRecord[]; offsets: GroupOffsets }[] = [];
  const kafka = {
    batchConsumer: async (o: Options) => {
      options = o;
      return { stop: async () => undefined, joined: Promise.resolve() };
    },
    transactionalProducer: async (transactionalId: string) =>
      ({
        transactionalId,
        init: async () => undefined,
        commit: async (records: OutboundRecord[], offsets: GroupOffsets) => {
          await committing();
          committed.push({ records, offsets });
        },
        close: async () => undefined,
      }) as unknown as TransactionalProducer,
    committedOffset,
  } as unknown as KafkaAdapter;
  const codec = {
    register: async () => undefined,
    decodeKnown: () => ({ order: 1 }),
    decode: async () => ({ order: 1 }),
    encodeNow: () => Buffer.from('out'),
  } as unknown as AvroCodec;
  const runner = new StageRunner(stage, {
    kafka,
    codec,
    logger: createLogger({ level: 'silent' }),
    config: testConfig(prefix, settings),
    metrics: createStageMetrics(createRegistry(false)),
  });
  const batch = oneRecordBatch(`${prefix}altinn.notifications.orders`);
  await runner.start();
  // the member's join (its transactions are fenced by its generation)
  options!.onAssignment?.({ [batch.topic]: [0] }, { generationId: 1, memberId: 'member-1' });
  const eachBatch = (b: typeof batch) =>
    options!.eachBatch(b).then(
      () => 'returned',
      (err: Error) => `threw: ${err.message}`,
    );
  return { runner, eachBatch, committed, batch, handBack: (b: typeof batch) => options!.eachBatch(b) };
}

/**
 * A record whose handling failed for now is tried again after a wait, heartbeating meanwhile. A
 * heartbeat that fails because the group coordinator or its broker is away (kafkajs looks it up
 * again) does not end the wait: the record is tried again and its batch commits. One that says
 * the member must rejoin ends the batch, whose records the partition's next owner reads. (Unit: a
 * fake adapter and codec, a stage that fails its first attempt.)
 */
describe('a stage runner waiting to try a record again', () => {
  const run = async (heartbeatError: Error) => {
    const { runner, eachBatch, committed, batch } = await started();
    let beats = 0;
    batch.heartbeat = async () => {
      beats++;
      throw heartbeatError;
    };
    const outcome = await eachBatch(batch);
    // (the commit of a batch that returned goes on behind it)
    for (let i = 0; i < 50 && outcome === 'returned' && committed.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    await runner.close(1_000);
    return { outcome, attempts: attemptsOf(), beats, committed };
  };

  it('goes on through a heartbeat that fails for the coordinator or its broker', async () => {
    for (const err of [
      new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:26092'),
      createErrorFromCode(16), // NOT_COORDINATOR: moved, looked up again
      createErrorFromCode(15), // COORDINATOR_NOT_AVAILABLE
    ]) {
      const { outcome, attempts, beats, committed } = await run(err);
      expect(outcome, err.message).toBe('returned');
      expect(attempts).toBe(2);
      expect(beats).toBeGreaterThanOrEqual(1);
      // the record's output, and the partition's position past it, in the member's generation
      expect(
        committed.map((c) => [c.records.length, c.offsets.positions[0]?.offset, c.offsets.member?.generationId]),
      ).toEqual([[1, '1', 1]]);
    }
  });

  it('ends the batch on a heartbeat that says the member must rejoin', async () => {
    const { outcome, attempts, committed } = await run(createErrorFromCode(27)); // REBALANCE_IN_PROGRESS
    expect(outcome).toMatch(/^threw: .*rebalancing/);
    expect(attempts).toBe(1);
    expect(committed).toEqual([]);
  });
});

/**
 * A partition is verified before its first batch is handled (its committed offset read, its
 * producer's epoch taken). A coordinator on a broker not reached (kafkajs gives up on a refused
 * connection at once, as not retriable) leaves the batch unhandled, to be read and verified again:
 * thrown, it crashed the consumer, which left its group (a rebalance of every member: a chaos run's
 * send-email instance while the broker of its group's coordinator was dead).
 */
describe('a stage runner verifying a partition while its coordinator is not reached', () => {
  it('leaves the batch to be read again, and handles it once the coordinator answers', async () => {
    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:26112');
    const answers: (Error | null)[] = [new KafkaJSNonRetriableError(refused, { cause: refused }), null];
    let asked = 0;
    const { runner, eachBatch, committed, batch } = await started(async () => {
      asked++;
      const a = answers.shift();
      if (a) throw a;
      return null;
    });
    expect(await eachBatch(batch)).toBe('returned');
    expect([asked, attemptsOf(), committed.length]).toEqual([1, 0, 0]);
    // read again
    expect(await eachBatch(batch)).toBe('returned');
    for (let i = 0; i < 50 && committed.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await runner.close(1_000);
    expect(asked).toBe(2);
    expect(committed.map((c) => [c.records.length, c.offsets.positions[0]?.offset])).toEqual([[1, '1']]);
  });

  it('still fails the batch on another error', async () => {
    const { runner, eachBatch, batch } = await started(async () => {
      throw new Error('not a broker away');
    });
    expect(await eachBatch(batch)).toBe('threw: not a broker away');
    await runner.close(1_000);
  });
});

/**
 * A batch's transaction commits behind the next batch, which waits for it before it moves the
 * position on. A commit to a transaction coordinator that hangs waits out the request timeout
 * (30 s), past the session: the member heartbeats through that wait (kafkajs heartbeats only
 * between batches), or its group drops it (a chaos run that hung a broker: 6 groups' members).
 */
describe('a stage runner waiting for the previous batch’s commit', () => {
  it('heartbeats while the commit is held', async () => {
    let release = () => undefined as void;
    let commits = 0;
    const { runner, eachBatch, committed, batch } = await started(
      async () => null,
      () => (++commits === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve()),
    );
    expect(await eachBatch(batch)).toBe('returned');
    // the next batch of the partition waits for the first one's commit
    let beats = 0;
    const next = oneRecordBatch(batch.topic, {
      highWatermark: '2',
      records: [{ ...batch.records[0]!, offset: '1' }],
      heartbeat: async () => void beats++,
    });
    const second = eachBatch(next);
    await new Promise((r) => setTimeout(r, 3_500));
    expect(committed).toEqual([]);
    expect(beats).toBeGreaterThanOrEqual(1);
    release();
    expect(await second).toBe('returned');
    for (let i = 0; i < 50 && committed.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await runner.close(1_000);
    expect(committed.map((c) => c.offsets.positions[0]?.offset)).toEqual(['1', '2']);
  });
});

/**
 * A transaction that fails rewinds its partition and drops its producer; the batch then hands
 * kafkajs an error it starts its fetch loop again on, not one it crashes the consumer on (a crash
 * leaves the group: a rebalance of every member). A fenced producer's INVALID_PRODUCER_EPOCH, as
 * kafkajs's retrier gives it up, is marked not retriable (a chaos run's send-email instance crashed
 * so when the transaction coordinator hung past the transaction's timeout); a rebalance's error
 * stays as it is, for kafkajs to join again.
 */
describe('a stage runner whose transaction fails', () => {
  const failing = async (error: Error) => {
    let seeks = 0;
    const { runner, batch, handBack } = await started(
      async () => null,
      async () => {
        throw error;
      },
      // a transaction per record: its commit is awaited in the batch
      { TRANSACTION_MAX_RECORDS: '1' },
    );
    batch.seek = () => void seeks++;
    const handed = await handBack(batch).then(
      () => null,
      (e: Error & { retriable?: boolean }) => e,
    );
    await runner.close(1_000);
    return { handed, seeks };
  };

  it('hands kafkajs a retriable error for a fenced producer, the partition rewound', async () => {
    const fenced = createErrorFromCode(47); // INVALID_PRODUCER_EPOCH
    const { handed, seeks } = await failing(new KafkaJSNonRetriableError(fenced, { cause: fenced }));
    expect(handed?.message).toMatch(/^transaction failed, its records read again: .*old epoch/);
    expect(handed?.retriable).not.toBe(false);
    expect(seeks).toBe(1);
  });

  it('hands kafkajs a rebalance as it is', async () => {
    const { handed } = await failing(createErrorFromCode(22)); // ILLEGAL_GENERATION
    expect(isRebalancing(handed)).toBe(true);
  });
});
