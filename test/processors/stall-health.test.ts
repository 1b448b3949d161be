import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { topicName } from '../../platform/topics.ts';
import type { StageRunner } from '../../processors/runtime/runner.ts';
import { defineStage, emit } from '../../processors/runtime/stage.ts';
import { collectKeys } from '../support/collector.ts';
import { publish, sampleOrder, testClients, testConfig, testRunner, uniquePrefix } from '../support/stack.ts';

/**
 * A stage instance whose records wait while it handles and commits none (a client or a commit
 * stuck for good) fails its /health past STAGE_STALL_LIMIT_MS, so its orchestrator restarts it;
 * one that makes progress, however slowly, or has nothing to do, stays healthy.
 */
const settings = { TOPIC_PARTITIONS: '1', STAGE_STALL_LIMIT_MS: '1500', LAG_SAMPLE_INTERVAL_MS: '200' };

function stage(name: string, wait: (order: NotificationOrder) => Promise<void>) {
  return defineStage({
    name,
    input: 'orders',
    outputs: ['ordersDue'],
    async handle(order: NotificationOrder, ctx) {
      await wait(order);
      return emit({ topic: 'ordersDue', key: ctx.key ?? '', value: order });
    },
  });
}

/** `pred` of the runner's health, looked at every 50 ms until it holds */
async function healthUntil(runner: StageRunner, pred: (h: ReturnType<StageRunner['health']>) => boolean, what: string) {
  const until = Date.now() + 30_000;
  while (!pred(runner.health())) {
    if (Date.now() > until) throw new Error(`health never ${what}: ${JSON.stringify(runner.health())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a stage instance that makes no progress', () => {
  it('fails its health while records wait and it handles none, and is healthy again once it moves', async () => {
    const prefix = uniquePrefix('stall-stuck');
    const config = testConfig(prefix, settings);
    const { kafka, codec, logger } = testClients(config);
    let release = () => undefined as void;
    const stuck = new Promise<void>((r) => (release = r));
    await provision(kafka, codec, config);
    const out = await collectKeys(kafka, `${prefix}out`, topicName(prefix, 'ordersDue'));
    const registry = createRegistry(false);
    const runner = testRunner(
      stage('stuck', (order) => (order.sendersReference === 'stuck' ? stuck : Promise.resolve())),
      { kafka, codec, logger, config },
      registry,
    );
    try {
      await runner.start();
      await runner.joined();
      // idle: nothing waits, however long
      expect(runner.health().ok).toBe(true);
      const orders = Array.from({ length: 5 }, (_, i) => sampleOrder(i, i === 0 ? { sendersReference: 'stuck' } : {}));
      await publish(
        kafka,
        codec,
        prefix,
        'orders',
        orders.map((o) => ({ key: 'one-key', value: o })),
      );
      await healthUntil(runner, (h) => !h.ok, 'failed');
      expect(runner.health().error).toMatch(/^[1-5] records waiting and none handled or committed for \d+ s$/);
      expect(await registry.getSingleMetricAsString('pipeline_stage_stalled_seconds')).toMatch(
        /pipeline_stage_stalled_seconds\{stage="stuck"\} (1\.[5-9]|[2-9])/,
      );
      release();
      await out.waitFor(() => out.total >= orders.length, 60_000, `${orders.length} records out`);
      await healthUntil(runner, (h) => h.ok, 'healthy again');
      expect(runner.health().error).toBeUndefined();
    } finally {
      release();
      await runner.close();
      await out.stop();
      await kafka.close();
    }
  });

  it('stays healthy while it makes progress slower than the limit per batch', async () => {
    const prefix = uniquePrefix('stall-slow');
    const config = testConfig(prefix, settings);
    const { kafka, codec, logger } = testClients(config);
    const seen: boolean[] = [];
    let runner: StageRunner | null = null;
    // each record takes 400 ms: 20 of them, one batch, 8 s with nothing committed
    const slow = stage('slow', async () => {
      seen.push(runner!.health().ok);
      await new Promise((r) => setTimeout(r, 400));
    });
    await provision(kafka, codec, config);
    const out = await collectKeys(kafka, `${prefix}out`, topicName(prefix, 'ordersDue'));
    runner = testRunner(slow, { kafka, codec, logger, config });
    try {
      await runner.start();
      await runner.joined();
      const orders = Array.from({ length: 20 }, (_, i) => sampleOrder(i));
      await publish(
        kafka,
        codec,
        prefix,
        'orders',
        orders.map((o) => ({ key: 'one-key', value: o })),
      );
      await out.waitFor(() => out.total >= orders.length, 60_000, `${orders.length} records out`);
      expect(seen.length).toBeGreaterThanOrEqual(orders.length);
      expect(seen.every((ok) => ok)).toBe(true);
    } finally {
      await runner.close();
      await out.stop();
      await kafka.close();
    }
  });
});
