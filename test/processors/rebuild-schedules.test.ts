import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import { topicName } from '../../platform/topics.ts';
import { rebuildSchedules } from '../../processors/rebuild-schedules.ts';
import { DEFAULT_WINDOW, nextSendOpportunity } from '../../platform/notifications/window.ts';
import { schedulerStage } from '../../processors/scheduler/stage.ts';
import { CHECKED_ELSEWHERE_HEADER, evaluateConditionStage } from '../../processors/evaluate-condition/stage.ts';
import { ConditionClient } from '../../platform/http/condition-client.ts';
import { EgressGuard } from '../../platform/http/egress.ts';
import { startConditionServer } from '../support/condition-server.ts';
import { collectKeys } from '../support/collector.ts';
import { stageWithReleaser } from '../support/in-process.ts';
import { enrichedOrder, eventually, publish, sampleOrder, testRedis } from '../support/stack.ts';

/**
 * Redis loses every schedule; the topics bring them back: what waited waits again and is
 * released on time, what was released or cancelled stays so, and nothing is released twice.
 */
describe('rebuilding the schedules from the topics', () => {
  const harness = stageWithReleaser({
    label: 'rebuild',
    keyPrefix: 'orders:',
    name: 'scheduler',
    output: 'ordersDue',
    stage: ({ clock }) => schedulerStage({ clock }),
  });
  const { prefix, config, kafka, codec, store } = harness;
  const redis = testRedis();
  const due = harness.collecting('ordersDue');

  beforeAll(() => harness.start());
  afterAll(async () => {
    await harness.stop();
    redis.disconnect();
  });

  /** Redis forgets everything under this test's prefix, as after losing its data. */
  async function loseRedis() {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }

  const sms = (overrides: Partial<SmsNotification>): SmsNotification => ({
    notificationId: randomUUID(),
    orderId: randomUUID(),
    creator: 'ttd',
    sender: 'Altinn',
    recipient: '+4799999999',
    body: 'hei',
    sendingTimePolicy: 'Daytime',
    requestedSendTime: Date.now(),
    expiry: Date.now() + 48 * 3600_000,
    ...overrides,
  });
  const notificationStatus = (
    n: SmsNotification,
    status: StatusEvent['status'],
    expiresAt: number | null = null,
  ): StatusEvent => ({
    ...orderStatus(n, status, Date.now()),
    notificationId: n.notificationId,
    channel: 'Sms',
    destination: n.recipient,
    expiresAt,
  });

  it('puts back what waited, keeps released and cancelled items final, and releases nothing twice', async () => {
    const now = Date.now();
    const released = sampleOrder(1, { requestedSendTime: now - 60_000 });
    const soon = sampleOrder(2, { requestedSendTime: now + 4_000 });
    const later = sampleOrder(3, { requestedSendTime: now + 3_600_000 });
    const cancelled = sampleOrder(4, { requestedSendTime: now + 3_600_000 });
    await publish(
      kafka,
      codec,
      prefix,
      'orders',
      [released, soon, later, cancelled].map((o) => ({ key: o.orderId, value: o })),
    );
    await due().waitFor(() => due().counts.has(released.orderId), 10_000, 'the past-due order released');
    // a cancellation as the gateway makes it: out of the schedule, and an Order_Cancelled event
    expect(await store.cancel(cancelled.orderId, Date.now())).toBe('cancelled');
    await publish(kafka, codec, prefix, 'status', [
      { key: cancelled.orderId, value: orderStatus(cancelled, 'Order_Cancelled', Date.now()) },
    ]);

    // the SMS window and the expiry checks, as their stages left the topics
    const waitingSms = sms({});
    const sentSms = sms({});
    const awaitingReport = sms({});
    const reported = sms({});
    const expiresAt = now + 3_600_000;
    await publish(kafka, codec, prefix, 'smsPending', [
      { key: waitingSms.notificationId, value: waitingSms },
      { key: sentSms.notificationId, value: sentSms },
    ]);
    await publish(kafka, codec, prefix, 'smsQueue', [{ key: sentSms.notificationId, value: sentSms }]);
    await publish(kafka, codec, prefix, 'status', [
      { key: awaitingReport.orderId, value: notificationStatus(awaitingReport, 'SMS_Accepted', expiresAt) },
      { key: reported.orderId, value: notificationStatus(reported, 'SMS_Accepted', expiresAt) },
      { key: reported.orderId, value: notificationStatus(reported, 'SMS_Delivered') },
    ]);

    await loseRedis();
    expect(await store.counts()).toEqual({ waiting: 0, leased: 0, passing: 0, final: 0 });

    const deps = { kafka, codec, redis, config, window: DEFAULT_WINDOW, clock: () => now };
    const counts = await rebuildSchedules(deps);
    // orders: soon and later wait again; released and cancelled are final
    expect(counts.orders).toEqual({ waiting: 2, settled: 2 });
    expect(counts.smsWindow).toEqual({ waiting: 1, settled: 1 });
    expect(counts.expiry).toEqual({ waiting: 1, settled: 1 });
    expect(await store.cancel(cancelled.orderId, Date.now())).toBe('already-cancelled');
    expect(await store.cancel(released.orderId, Date.now())).toBe('released');

    const window = new ScheduleStore(redis, `${prefix}sms-window:`);
    expect(await window.nextDue()).toBe(nextSendOpportunity(waitingSms.requestedSendTime, DEFAULT_WINDOW));
    expect(await window.schedule(sentSms.notificationId, now, Buffer.from('{}'))).toBe('final');
    const expiry = new ScheduleStore(redis, `${prefix}expiry:`);
    expect(await expiry.nextDue()).toBe(expiresAt + config.NOTIFICATION_EXPIRY_GRACE_MS);
    expect(await expiry.schedule(reported.notificationId, now, Buffer.from('{}'))).toBe('final');

    // the rebuilt schedule releases on time; a second rebuild changes nothing
    expect(await rebuildSchedules(deps)).toEqual({
      orders: { waiting: 0, settled: 0 },
      smsWindow: { waiting: 0, settled: 0 },
      expiry: { waiting: 0, settled: 0 },
      conditionRetry: { waiting: 0, settled: 0 },
    });
    await due().waitFor(() => due().counts.has(soon.orderId), 15_000, 'the rebuilt order released');
    expect(Date.now()).toBeGreaterThanOrEqual(soon.requestedSendTime);
    expect(due().counts.get(released.orderId)).toBe(1);
    expect(due().counts.get(soon.orderId)).toBe(1);
    expect(due().counts.has(later.orderId)).toBe(false);
    expect(due().counts.has(cancelled.orderId)).toBe(false);
  });
});

describe('rebuilding the condition re-checks from the topics', () => {
  const client = new ConditionClient({
    guard: new EgressGuard({ allowLoopback: true, allowPrivate: false }),
    timeoutMs: 1_000,
  });
  const RETRY_DELAY_MS = 3_000;
  const harness = stageWithReleaser({
    label: 'rebuild-cond',
    overrides: { CONDITION_RETRY_DELAY_MS: String(RETRY_DELAY_MS) },
    keyPrefix: 'condition-retry:',
    name: 'condition-retry',
    output: 'ordersEnriched',
    stage: ({ clock }) => evaluateConditionStage({ client, retryDelayMs: RETRY_DELAY_MS, clock }),
  });
  const { prefix, config, kafka, codec, store } = harness;
  const redis = testRedis();
  let server: Awaited<ReturnType<typeof startConditionServer>>;
  let approved: Awaited<ReturnType<typeof collectKeys>>;

  beforeAll(async () => {
    server = await startConditionServer();
    await harness.start(async () => {
      approved = await collectKeys(kafka, `${prefix}approved`, topicName(prefix, 'ordersApproved'));
    });
  });
  afterAll(async () => {
    await harness.stop();
    await approved?.stop();
    await server.close();
    redis.disconnect();
  });

  it('puts back an order waiting for its re-check, which is then checked once and sent once', async () => {
    // first answer 500 (inconclusive), then true
    const order = sampleOrder(1, { conditionEndpoint: `${server.base}/flaky/${randomUUID()}` });
    const enriched = enrichedOrder(order);
    await publish(kafka, codec, prefix, 'ordersEnriched', [{ key: order.orderId, value: enriched }]);
    const topic = topicName(prefix, 'ordersEnriched');
    // checked once, waiting in the retry store, and its offset committed
    await eventually(
      async () =>
        (await store.counts()).waiting === 1 &&
        (await kafka.committedOffset(`${prefix}notifications.evaluate-condition`, topic, 0)) === '1',
      'the first check',
    );

    const keys = await redis.keys(`${prefix}*`);
    await redis.del(...keys);
    const counts = await rebuildSchedules({ kafka, codec, redis, config, window: DEFAULT_WINDOW, clock: Date.now });
    expect(counts.conditionRetry).toEqual({ waiting: 1, settled: 0 });

    await approved.waitFor(() => approved.counts.has(order.orderId), 15_000, 'the re-checked order approved');
    // after the rebuild nothing else is waiting, and the order went on once
    await eventually(async () => (await store.counts()).waiting === 0, 'the re-check released');
    expect(approved.counts.get(order.orderId)).toBe(1);
  });

  it('puts back one that prepare-notifications checked and deferred (its marked first check), which evaluate-condition had passed by', async () => {
    const path = `/flaky/${randomUUID()}`;
    const order = sampleOrder(1, { conditionEndpoint: `${server.base}${path}` });
    const topic = topicName(prefix, 'ordersEnriched');
    const before = BigInt((await kafka.committedOffset(`${prefix}notifications.evaluate-condition`, topic, 0)) ?? '0');
    // what prepare-notifications writes with its deferral: the first check, marked (its hold is in Redis, lost below)
    await publish(kafka, codec, prefix, 'ordersEnriched', [
      {
        key: order.orderId,
        value: enrichedOrder(order),
        headers: { [CHECKED_ELSEWHERE_HEADER]: 'prepare-notifications' },
      },
    ]);
    await eventually(
      async () =>
        BigInt((await kafka.committedOffset(`${prefix}notifications.evaluate-condition`, topic, 0)) ?? '0') > before,
      'evaluate-condition past the marked record',
    );
    expect(server.calls.get(path) ?? 0).toBe(0);
    expect((await store.counts()).waiting).toBe(0);

    const counts = await rebuildSchedules({ kafka, codec, redis, config, window: DEFAULT_WINDOW, clock: Date.now });
    expect(counts.conditionRetry).toEqual({ waiting: 1, settled: 0 });
    // its re-check, written by the releaser after the delay, is checked once (inconclusive again: sent)
    await approved.waitFor(() => approved.counts.has(order.orderId), 15_000, 'the re-checked order approved');
    expect(approved.counts.get(order.orderId)).toBe(1);
    expect(server.calls.get(path)).toBe(1);
  });
});
