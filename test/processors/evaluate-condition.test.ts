import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConditionClient } from '../../platform/http/condition-client.ts';
import { EgressGuard } from '../../platform/http/egress.ts';
import { createRegistry, createStageMetrics } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { EnrichedOrder } from '../../platform/schemas/generated/enriched-order.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { topicName } from '../../platform/topics.ts';
import { evaluateConditionStage } from '../../processors/evaluate-condition/stage.ts';
import { StageRunner } from '../../processors/runtime/runner.ts';
import { Releaser } from '../../processors/scheduler/releaser.ts';
import { startConditionServer } from '../support/condition-server.ts';
import { publish, sampleOrder, stackEnv, testClients, testConfig, uniquePrefix, within } from '../support/stack.ts';

const RETRY_DELAY_MS = 500;

describe('evaluate-condition', () => {
  const prefix = uniquePrefix('cond');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '2' });
  const { kafka, codec, logger } = testClients(config);
  const redis = new Redis(stackEnv().REDIS_URL);
  const store = new ScheduleStore(redis, `${prefix}condition-retry:`);
  const registry = createRegistry(false);
  const releaser = new Releaser(
    { store, kafka, codec, topicPrefix: prefix, clientId: 'test', logger, registry, clock: Date.now },
    {
      name: 'condition-retry',
      output: 'ordersEnriched',
      leaseMs: 5_000,
      batchSize: 50,
      pollMs: 50,
      leaderTtlMs: 3_000,
    },
  );
  const client = new ConditionClient({
    guard: new EgressGuard({ allowLoopback: true, allowPrivate: false }),
    timeoutMs: 300,
  });
  const runner = new StageRunner(
    evaluateConditionStage({ client, retryStore: store, retryDelayMs: RETRY_DELAY_MS, clock: Date.now }),
    { kafka, codec, config, logger, metrics: createStageMetrics(registry) },
  );
  let server: Awaited<ReturnType<typeof startConditionServer>>;
  const approved = new Map<string, { at: number; value: EnrichedOrder }>();
  const statuses = new Map<string, StatusEvent>();
  const waiters = new Map<string, () => void>();
  const consumers: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    server = await startConditionServer();
    await provision(kafka, codec, config);
    consumers.push(
      await kafka.collect({
        groupId: `${prefix}approved`,
        topics: [topicName(prefix, 'ordersApproved')],
        onRecord: (r) =>
          void codec.decode('ordersApproved', r.value).then((v) => {
            approved.set(v.orderId, { at: Date.now(), value: v });
            waiters.get(v.orderId)?.();
          }),
      }),
      await kafka.collect({
        groupId: `${prefix}status`,
        topics: [topicName(prefix, 'status')],
        onRecord: (r) =>
          void codec.decode('status', r.value).then((v) => {
            statuses.set(v.orderId, v);
            waiters.get(v.orderId)?.();
          }),
      }),
    );
    await runner.start();
    releaser.start();
    await runner.joined();
  });

  afterAll(async () => {
    await releaser.close();
    await runner.close();
    for (const c of consumers) await c.stop();
    await server.close();
    await kafka.close();
    redis.disconnect();
  });

  /** publishes an enriched order whose condition endpoint is `path`, resolves when it has an outcome */
  const evaluate = async (path: string | null) => {
    const order = sampleOrder(1, { conditionEndpoint: path === null ? null : `${server.base}${path}` });
    const enriched: EnrichedOrder = {
      orderId: order.orderId,
      creator: order.creator,
      enrichedAt: Date.now(),
      conditionChecks: 0,
      recipients: [],
      orderJson: JSON.stringify(order),
    };
    const outcome = new Promise<void>((resolve) => waiters.set(order.orderId, resolve));
    const sent = Date.now();
    await publish(kafka, codec, prefix, 'ordersEnriched', [{ key: order.orderId, value: enriched }]);
    await within(outcome, 20_000, `an outcome for ${path}`);
    return { id: order.orderId, sent };
  };

  it('passes an order without a condition endpoint', async () => {
    const { id } = await evaluate(null);
    expect(approved.has(id)).toBe(true);
  });

  it('passes an order whose endpoint says sendNotification: true', async () => {
    const { id } = await evaluate('/true');
    expect(approved.get(id)?.value.conditionChecks).toBe(0);
  });

  it('ends an order whose endpoint says false as SendConditionNotMet', async () => {
    const { id } = await evaluate('/false');
    expect(statuses.get(id)).toMatchObject({ status: 'Order_SendConditionNotMet', orderId: id, creator: 'ttd' });
    expect(approved.has(id)).toBe(false);
  });

  it('asks again after the retry delay when the endpoint answers 500, then sends on true', async () => {
    const path = `/flaky/${randomUUID()}`;
    const { id, sent } = await evaluate(path);
    expect(approved.get(id)?.value.conditionChecks).toBe(1);
    expect(approved.get(id)!.at - sent).toBeGreaterThanOrEqual(RETRY_DELAY_MS);
    expect(server.calls.get(path)).toBe(2);
  });

  it.each(['/silent', '/malformed', '/500'])('sends after a second inconclusive answer (%s)', async (path) => {
    const before = server.calls.get(path) ?? 0;
    const { id } = await evaluate(path);
    expect(approved.get(id)?.value.conditionChecks).toBe(1);
    expect((server.calls.get(path) ?? 0) - before).toBe(2);
    expect(statuses.has(id)).toBe(false);
  });
});
