import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { topicName } from '../../platform/topics.ts';
import type { StageRunner } from '../../processors/runtime/runner.ts';
import { defineStage, emit } from '../../processors/runtime/stage.ts';
import { collectKeys } from '../support/collector.ts';
import {
  publish,
  publishInOrder,
  sampleOrder,
  testClients,
  testConfig,
  testRunner,
  uniquePrefix,
} from '../support/stack.ts';

/**
 * A stage instance keeps its place in its group while it handles a batch, and gives it up
 * promptly when the group rebalances. Otherwise two instances handle the same records side by
 * side: exactly once still holds between stages (the one that left commits nothing), but a
 * sender whose record is being handed over by the other reports it failed rather than hand it
 * over twice. The session here is the shortest the runtime takes (6 s); transactions close only
 * at the batch's end, so a commit's heartbeat cannot stand in for the batch's own.
 */
const settings = {
  TOPIC_PARTITIONS: '2',
  TRANSACTION_SCOPE: 'instance',
  CONSUMER_SESSION_TIMEOUT_MS: '6000',
  TRANSACTION_MAX_MS: '60000',
  TRANSACTION_MAX_RECORDS: '100000',
};

/**
 * A stage passing orders on, counting how often it handles each, after `waitMs` for the order
 * (told of each count first).
 */
function countingStage(name: string, handled: Map<string, number>, waitMs: (order: NotificationOrder) => number) {
  return defineStage({
    name,
    input: 'orders',
    outputs: ['ordersDue'],
    async handle(order: NotificationOrder, ctx) {
      handled.set(order.orderId, (handled.get(order.orderId) ?? 0) + 1);
      const ms = waitMs(order);
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      return emit({ topic: 'ordersDue', key: ctx.key ?? '', value: order });
    },
  });
}

describe('a stage instance in its group', () => {
  it('keeps its place while a handler waits longer than its session: every record handled once', async () => {
    const prefix = uniquePrefix('member-wait');
    const config = testConfig(prefix, settings);
    const { kafka, codec, logger } = testClients(config);
    const handled = new Map<string, number>();
    // the first record waits past the session once, as on a dependency that restarts
    const stage = countingStage('patient', handled, (order) =>
      order.sendersReference === 'slow' && handled.get(order.orderId) === 1 ? 9_000 : 0,
    );
    await provision(kafka, codec, config);
    const out = await collectKeys(kafka, `${prefix}out`, topicName(prefix, 'ordersDue'));
    const runner = testRunner(stage, { kafka, codec, logger, config });
    try {
      await runner.start();
      await runner.joined();
      const orders = Array.from({ length: 10 }, (_, i) => sampleOrder(i, i === 0 ? { sendersReference: 'slow' } : {}));
      // the slow one first
      await publishInOrder(kafka, codec, prefix, orders);
      await out.waitFor(() => out.total >= orders.length, 60_000, `${orders.length} records out`);
      expect([...handled.values()]).toEqual(orders.map(() => 1));
      expect(out.total).toBe(orders.length);
    } finally {
      await runner.close();
      await out.stop();
      await kafka.close();
    }
  });

  describe('when another instance joins while it handles a long batch', () => {
    const prefix = uniquePrefix('member-join');
    // one partition: the newcomer may get none, but the group must still wait for the first
    const config = testConfig(prefix, { ...settings, TOPIC_PARTITIONS: '1' });
    const { kafka, codec, logger } = testClients(config);
    const N = 100;
    const handled = new Map<string, number>();
    let underWay!: () => void;
    const fiveHandled = new Promise<void>((r) => (underWay = r));
    const stage = countingStage('steady', handled, () => {
      if (handled.size >= 5) underWay();
      return 200;
    });
    const runners: StageRunner[] = [];
    let out: Awaited<ReturnType<typeof collectKeys>>;

    beforeAll(async () => {
      await provision(kafka, codec, config);
      out = await collectKeys(kafka, `${prefix}out`, topicName(prefix, 'ordersDue'));
    });
    afterAll(async () => {
      for (const r of runners) await r.close();
      await out.stop();
      await kafka.close();
    });

    it('starts no more of the batch once the group rebalances: the newcomer is not kept waiting for it', async () => {
      // every record there before the first instance starts: its first fetch takes them all,
      // 20 s of handling at 200 ms each
      const orders = Array.from({ length: N }, (_, i) => sampleOrder(i));
      await publish(
        kafka,
        codec,
        prefix,
        'orders',
        orders.map((o) => ({ key: o.orderId, value: o })),
      );
      const first = testRunner(stage, { kafka, codec, logger, config });
      runners.push(first);
      await first.start();
      await first.joined();
      // (nothing of the batch commits before its end: the handler says when it is under way)
      await fiveHandled;
      const second = testRunner(stage, { kafka, codec, logger, config });
      runners.push(second);
      await second.start();
      await second.joined();
      // the rebalance completed while the first still had most of its batch to go
      const handledAtJoin = [...handled.values()].reduce((a, b) => a + b, 0);
      await out.waitFor(() => out.distinct >= N, 120_000, `${N} distinct records`);
      expect(handledAtJoin).toBeLessThan(N / 2);
      expect(out.duplicated).toBe(0);
    });
  });
});
