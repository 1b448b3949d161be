import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConditionClient, type ConditionResult } from '../../platform/http/condition-client.ts';
import { createLogger } from '../../platform/logger.ts';
import { FirstAnswers } from '../../platform/redis/first-answers.ts';
import { EgressGuard } from '../../platform/http/egress.ts';
import type { EnrichedOrder } from '../../platform/schemas/generated/enriched-order.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { topicName } from '../../platform/topics.ts';
import { evaluateConditionStage } from '../../processors/evaluate-condition/stage.ts';
import type { RecordContext } from '../../processors/runtime/stage.ts';
import { startConditionServer } from '../support/condition-server.ts';
import { stageWithReleaser } from '../support/in-process.ts';
import { enrichedOrder, publish, sampleOrder, testRedis, uniquePrefix, within } from '../support/stack.ts';

const RETRY_DELAY_MS = 500;

describe('evaluate-condition', () => {
  const client = new ConditionClient({
    guard: new EgressGuard({ allowLoopback: true, allowPrivate: false }),
    timeoutMs: 300,
  });
  const harness = stageWithReleaser({
    label: 'cond',
    overrides: { TOPIC_PARTITIONS: '2' },
    keyPrefix: 'condition-retry:',
    name: 'condition-retry',
    output: 'ordersEnriched',
    stage: ({ clock }) => evaluateConditionStage({ client, retryDelayMs: RETRY_DELAY_MS, clock }),
  });
  const { prefix, kafka, codec } = harness;
  let server: Awaited<ReturnType<typeof startConditionServer>>;
  const approved = new Map<string, { at: number; value: EnrichedOrder }>();
  const statuses = new Map<string, StatusEvent>();
  const waiters = new Map<string, () => void>();
  const consumers: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    server = await startConditionServer();
    await harness.start(async () => {
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
    });
  });

  afterAll(async () => {
    for (const c of consumers) await c.stop();
    await harness.stop();
    await server.close();
  });

  /** publishes an enriched order whose condition endpoint is `path`, resolves when it has an outcome */
  const evaluate = async (path: string | null) => {
    const order = sampleOrder(1, { conditionEndpoint: path === null ? null : `${server.base}${path}` });
    const enriched = enrichedOrder(order);
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

describe('evaluate-condition handling one record twice', () => {
  const redis = testRedis();
  const prefix = `${uniquePrefix('cond-answers')}condition-answer:`;
  afterAll(() => redis.disconnect());

  /** an endpoint that fails its first call and says yes after (as /flaky/ does) */
  const flakyClient = () => {
    let calls = 0;
    return {
      check: async (): Promise<ConditionResult> =>
        ++calls === 1 ? { kind: 'inconclusive', reason: 'HTTP 500' } : { kind: 'met' },
    };
  };
  const ctx = (): RecordContext => ({
    topic: 'orders.enriched',
    partition: 0,
    offset: '7',
    key: null,
    timestamp: Date.now(),
    headers: {},
    attempt: 1,
    logger: createLogger({ level: 'silent' }),
  });
  const order = () => enrichedOrder(sampleOrder(1, { conditionEndpoint: 'https://sender.example/condition' }));

  it('decides as it did the first time (its answer kept), not as the endpoint answers now', async () => {
    const stage = evaluateConditionStage({
      client: flakyClient(),
      retryDelayMs: 1_000,
      clock: Date.now,
      answers: new FirstAnswers<ConditionResult>(redis, prefix, 60),
    });
    const record = order();
    // the first handling deferred it (its re-check held in Redis), and its transaction failed
    const first = await stage.handle(record, ctx());
    expect(first.kind).toBe('defer');
    // handled again: the endpoint would say yes now, but the order must not be approved as well
    const second = await stage.handle(record, ctx());
    // (the same deferral: its time is the clock's plus the delay, so the store keeps the first)
    expect(second).toMatchObject({ kind: 'defer', id: record.orderId, value: { conditionChecks: 1 } });
    // its re-check (check number 1) is another question, asked afresh
    const recheck = await stage.handle({ ...record, conditionChecks: 1 }, ctx());
    expect(recheck.kind).toBe('emit');
  });

  it('without kept answers, the two handlings would decide both ways (what the store prevents)', async () => {
    const stage = evaluateConditionStage({ client: flakyClient(), retryDelayMs: 1_000, clock: Date.now });
    const record = order();
    expect((await stage.handle(record, ctx())).kind).toBe('defer');
    expect((await stage.handle(record, ctx())).kind).toBe('emit');
  });
});
