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
const { KafkaJSConnectionError, KafkaJSNonRetriableError } = require('kafkajs/src/errors.js') as {
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
async function started(committedOffset: () => Promise<string | null> = async () => null) {
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
        commit: async (records: OutboundRecord[], offsets: GroupOffsets) => void committed.push({ records, offsets }),
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
    config: testConfig(prefix),
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
  return { runner, eachBatch, committed, batch };
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
