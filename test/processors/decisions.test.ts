import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { DEFAULT_WINDOW } from '../../platform/notifications/window.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import { evaluateConditionStage } from '../../processors/evaluate-condition/stage.ts';
import type { Outcome, RecordContext } from '../../processors/runtime/stage.ts';
import { scheduleWindowStage } from '../../processors/schedule-window/stage.ts';
import { schedulerStage } from '../../processors/scheduler/stage.ts';
import { enrichedOrder, sampleOrder } from '../support/stack.ts';

/**
 * The deferring stages are pure decisions: each answers with an outcome (emit, defer, dead) and
 * never touches Redis or Kafka, so they are tested here with neither.
 */
const oslo = (iso: string) => DateTime.fromISO(iso, { zone: 'Europe/Oslo' }).toMillis();
const ctx = (headers: Record<string, Buffer> = {}) =>
  ({ headers, logger: { info: () => undefined, warn: () => undefined } }) as unknown as RecordContext;
const sms = (over: Partial<SmsNotification> = {}): SmsNotification => ({
  notificationId: '9d1c9b52-2d0e-4f54-8a5b-0e3c1bbf6f1a',
  orderId: '1d1c9b52-2d0e-4f54-8a5b-0e3c1bbf6f1a',
  creator: 'ttd',
  sender: 'Altinn',
  recipient: '+4798765432',
  body: 'Hei',
  sendingTimePolicy: 'Daytime',
  requestedSendTime: 0,
  expiry: 0,
  ...over,
});
const deferred = (o: Outcome) => {
  if (o.kind !== 'defer') throw new Error(`expected a deferral, got ${o.kind}`);
  return o;
};

describe('schedule-window decides without Redis', () => {
  it('holds an SMS ordered at 22:10 Oslo time until just after 09:00 the next day (the window is exclusive)', () => {
    const now = oslo('2026-11-30T22:10');
    const stage = scheduleWindowStage({ window: DEFAULT_WINDOW, clock: () => now });
    const d = deferred(stage.handle(sms({ requestedSendTime: now }), ctx()) as Outcome);
    expect(new Date(d.until).toISOString()).toBe(new Date(oslo('2026-12-01T09:00') + 1).toISOString());
    expect(d.id).toBe(sms().notificationId);
    expect(stage.defer).toMatchObject({ output: 'smsQueue', keyPrefix: 'sms-window:' });
  });

  it('lets an SMS inside the window, or an Anytime one, go at once (due now)', () => {
    const now = oslo('2026-11-30T12:00');
    const stage = scheduleWindowStage({ window: DEFAULT_WINDOW, clock: () => now });
    expect(deferred(stage.handle(sms({ requestedSendTime: now }), ctx()) as Outcome).until).toBe(now);
    const night = oslo('2026-11-30T23:30');
    const anytime = scheduleWindowStage({ window: DEFAULT_WINDOW, clock: () => night });
    expect(
      deferred(anytime.handle(sms({ requestedSendTime: night, sendingTimePolicy: 'Anytime' }), ctx()) as Outcome).until,
    ).toBe(night);
  });
});

describe('evaluate-condition decides without Redis', () => {
  const order = (conditionEndpoint: string | null) =>
    enrichedOrder(sampleOrder(1, { conditionEndpoint, requestedSendTime: 0 }));
  const stage = (answer: 'met' | 'not-met' | 'inconclusive') =>
    evaluateConditionStage({
      client: {
        check: async () => (answer === 'inconclusive' ? { kind: answer, reason: 'HTTP 500' } : { kind: answer }),
      },
      retryDelayMs: 60_000,
      clock: () => 1_000,
    });

  it('approves an order without a condition endpoint at once, without a promise', () => {
    const out = stage('met').handle(order(null), ctx());
    expect(out).toMatchObject({ kind: 'emit', records: [{ topic: 'ordersApproved' }] });
  });

  it('approves on true, ends the order on false', async () => {
    expect(await stage('met').handle(order('https://example.com/c'), ctx())).toMatchObject({
      kind: 'emit',
      records: [{ topic: 'ordersApproved' }],
    });
    expect(await stage('not-met').handle(order('https://example.com/c'), ctx())).toMatchObject({
      kind: 'emit',
      records: [{ topic: 'status', value: { status: 'Order_SendConditionNotMet' } }],
    });
  });

  it('defers an inconclusive first answer by the retry delay, back onto orders.enriched; sends on a second', async () => {
    const s = stage('inconclusive');
    const d = deferred(await s.handle(order('https://example.com/c'), ctx()));
    expect(d.until).toBe(61_000);
    expect(d.value).toMatchObject({ conditionChecks: 1 });
    expect(s.defer).toMatchObject({ output: 'ordersEnriched', keyPrefix: 'condition-retry:', name: 'condition-retry' });
    const again = { ...order('https://example.com/c'), conditionChecks: 1 };
    expect(await s.handle(again, ctx())).toMatchObject({ kind: 'emit', records: [{ topic: 'ordersApproved' }] });
  });
});

describe('scheduler decides without Redis', () => {
  const stage = schedulerStage({ clock: () => 5_000 });

  it('defers an order until its send time, registering it, and releases it with Order_Processing', () => {
    const o = sampleOrder(1, { requestedSendTime: 9_000 });
    const d = deferred(stage.handle(o, ctx()) as Outcome);
    expect(d).toMatchObject({ id: o.orderId, until: 9_000 });
    expect(d.also).toMatchObject([{ topic: 'status', value: { status: 'Order_Registered' } }]);
    expect(stage.defer!.alsoEmit!(o, 9_100)).toMatchObject([
      { topic: 'status', value: { status: 'Order_Processing' } },
    ]);
  });

  it('dead-letters an order with a non-UUID id and writes nothing about it', () => {
    const out = stage.handle(sampleOrder(1, { orderId: 'order-17' }), ctx()) as Outcome;
    expect(out).toMatchObject({ kind: 'dead' });
    expect((out as { also?: unknown[] }).also).toBeUndefined();
  });

  it('skips an instant order the gateway dispatched, refuses one it did not', () => {
    const o = sampleOrder(1, { type: 'Instant' });
    expect(stage.handle(o, ctx({ 'x-notifications-dispatched': Buffer.from('n') }))).toMatchObject({ kind: 'skip' });
    expect(stage.handle(o, ctx())).toMatchObject({
      kind: 'dead',
      also: [{ topic: 'status', value: { status: 'Order_Rejected' } }],
    });
  });
});
