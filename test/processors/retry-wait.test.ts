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
const { KafkaJSConnectionError } = require('kafkajs/src/errors.js') as {
  KafkaJSConnectionError: new (message: string) => Error;
};

type Options = Parameters<KafkaAdapter['batchConsumer']>[0];

/**
 * A record whose handling failed for now is tried again after a wait, heartbeating meanwhile. A
 * heartbeat that fails because the group coordinator or its broker is away (kafkajs looks it up
 * again) does not end the wait: the record is tried again and its batch commits. One that says
 * the member must rejoin ends the batch, whose records the partition's next owner reads. (Unit: a
 * fake adapter and codec, a stage that fails its first attempt.)
 */
describe('a stage runner waiting to try a record again', () => {
  const run = async (heartbeatError: Error) => {
    const prefix = uniquePrefix('retrywait');
    let attempts = 0;
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
      committedOffset: async () => null,
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
    let beats = 0;
    const batch = oneRecordBatch(`${prefix}altinn.notifications.orders`, {
      heartbeat: async () => {
        beats++;
        throw heartbeatError;
      },
    });
    await runner.start();
    // the member's join (its transactions are fenced by its generation)
    options!.onAssignment?.({ [batch.topic]: [0] }, { generationId: 1, memberId: 'member-1' });
    const outcome = await options!.eachBatch(batch).then(
      () => 'returned',
      (err: Error) => `threw: ${err.message}`,
    );
    // (the commit of a batch that returned goes on behind it)
    for (let i = 0; i < 50 && outcome === 'returned' && committed.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    await runner.close(1_000);
    return { outcome, attempts, beats, committed };
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
