import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import { scheduleWindowStage } from '../../processors/schedule-window/stage.ts';
import { DEFAULT_WINDOW, expiryFor, isWithinWindow, nextSendOpportunity } from '../../platform/notifications/window.ts';
import { stageWithReleaser } from '../support/in-process.ts';
import { publish } from '../support/stack.ts';

const oslo = (iso: string) => DateTime.fromISO(iso, { zone: 'Europe/Oslo' }).toMillis();
const utc = (ms: number) => new Date(ms).toISOString();

describe('schedule-window', () => {
  it.each([
    ['2026-11-27T08:59:00', '2026-11-27T08:00:00.001Z'],
    ['2026-11-27T09:00:00', '2026-11-27T08:00:00.001Z'],
    ['2026-11-27T09:00:00.001', '2026-11-27T08:00:00.001Z'],
    ['2026-11-27T16:59:00', '2026-11-27T15:59:00.000Z'],
    ['2026-11-27T16:59:59.999', '2026-11-27T15:59:59.999Z'],
    ['2026-11-27T17:00:00', '2026-11-28T08:00:00.001Z'],
    ['2026-11-27T22:10:00', '2026-11-28T08:00:00.001Z'],
    ['2026-11-28T00:00:00', '2026-11-28T08:00:00.001Z'],
  ])('holds an SMS due at %s Oslo time until %s', (due, release) => {
    expect(utc(nextSendOpportunity(oslo(due)))).toBe(release);
  });

  it('sends at weekends like any other day', () => {
    const saturday = oslo('2026-11-28T10:00:00');
    expect(isWithinWindow(saturday)).toBe(true);
    expect(nextSendOpportunity(saturday)).toBe(saturday);
    expect(utc(nextSendOpportunity(oslo('2026-11-29T18:00:00')))).toBe('2026-11-30T08:00:00.001Z');
  });

  it('opens at 09:00 Oslo summer time on the spring-forward day (29 March 2026)', () => {
    // 02:00 → 03:00 that night; the opening is 07:00Z instead of 08:00Z.
    expect(utc(nextSendOpportunity(oslo('2026-03-28T22:10:00')))).toBe('2026-03-29T07:00:00.001Z');
    expect(utc(nextSendOpportunity(Date.parse('2026-03-29T01:30:00Z')))).toBe('2026-03-29T07:00:00.001Z');
    expect(isWithinWindow(Date.parse('2026-03-29T07:30:00Z'))).toBe(true);
    expect(isWithinWindow(Date.parse('2026-03-29T15:00:00Z'))).toBe(false);
  });

  it('opens at 09:00 Oslo winter time on the fall-back day (25 October 2026)', () => {
    // 03:00 → 02:00 that night; the opening is 08:00Z instead of 07:00Z.
    expect(utc(nextSendOpportunity(oslo('2026-10-24T22:10:00')))).toBe('2026-10-25T08:00:00.001Z');
    expect(utc(nextSendOpportunity(Date.parse('2026-10-25T00:30:00Z')))).toBe('2026-10-25T08:00:00.001Z');
    expect(isWithinWindow(Date.parse('2026-10-25T15:59:00Z'))).toBe(true);
    expect(isWithinWindow(Date.parse('2026-10-25T16:00:00Z'))).toBe(false);
  });

  it('takes its hours and zone from configuration', () => {
    const w = { zone: 'Europe/Oslo', startHour: 8, endHour: 20 };
    expect(isWithinWindow(oslo('2026-11-27T19:30:00'), w)).toBe(true);
    expect(utc(nextSendOpportunity(oslo('2026-11-27T07:00:00'), w))).toBe('2026-11-27T07:00:00.001Z');
    expect(() => isWithinWindow(0, { zone: 'Europe/Oslo', startHour: 17, endHour: 9 })).toThrow(/start < end/);
    expect(() => isWithinWindow(0, { zone: 'Mars/Olympus', startHour: 9, endHour: 17 })).toThrow(/unknown time zone/);
  });
});

describe('notification expiry', () => {
  const t = oslo('2026-11-27T12:00:00');
  it('is 48 hours after the send time for email and Anytime SMS', () => {
    expect(expiryFor('Email', 'Anytime', t) - t).toBe(48 * 3600_000);
    expect(expiryFor('Sms', 'Anytime', t) - t).toBe(48 * 3600_000);
  });

  it.each([
    ['2026-11-27T12:00:00', '2026-11-29T12:00:00'],
    ['2026-11-27T07:30:00', '2026-11-29T09:00:00'],
    ['2026-11-27T09:00:00', '2026-11-29T09:00:00'],
    ['2026-11-27T17:00:00', '2026-11-30T09:00:00'],
    ['2026-11-27T22:10:00', '2026-11-30T09:00:00'],
  ])('for a Daytime SMS sent at %s Oslo time is %s Oslo time', (sent, expiry) => {
    expect(expiryFor('Sms', 'Daytime', oslo(sent))).toBe(oslo(expiry));
  });

  it('counts Daytime expiry on the Oslo clock across the fall-back switch', () => {
    expect(expiryFor('Sms', 'Daytime', oslo('2026-10-24T22:10:00'))).toBe(oslo('2026-10-27T09:00:00'));
  });
});

describe('schedule-window stage', () => {
  let now = oslo('2026-11-27T22:10:00');
  const harness = stageWithReleaser({
    label: 'window',
    keyPrefix: 'sms-window:',
    name: 'schedule-window',
    output: 'smsQueue',
    clock: () => now,
    stage: ({ clock }) => scheduleWindowStage({ window: DEFAULT_WINDOW, clock }),
  });
  const { prefix, kafka, codec, store, releaser } = harness;
  const out = harness.collecting('smsQueue');
  beforeAll(() => harness.start());
  afterAll(() => harness.stop());

  const sms = (id: string, policy: 'Anytime' | 'Daytime'): SmsNotification => ({
    notificationId: id,
    orderId: randomUUID(),
    creator: 'ttd',
    sender: 'Altinn',
    recipient: '+4799999999',
    body: `Hei ${id}`,
    sendingTimePolicy: policy,
    requestedSendTime: now,
    expiry: expiryFor('Sms', policy, now),
  });
  const publishSms = (...list: SmsNotification[]) =>
    publish(
      kafka,
      codec,
      prefix,
      'smsPending',
      list.map((s) => ({ key: s.notificationId, value: s })),
    );

  it('holds a Daytime SMS ordered at 22:10 Oslo time until just after 09:00 the next day', async () => {
    const collector = out();
    const night = sms(randomUUID(), 'Daytime');
    const anytime = sms(randomUUID(), 'Anytime');
    // One partition: the Anytime SMS arriving shows the Daytime one (before it) was handled.
    await publishSms(night, anytime);
    await collector.waitFor(() => collector.counts.has(anytime.notificationId), 15_000, 'the Anytime SMS');
    expect(collector.counts.has(night.notificationId)).toBe(false);
    expect(await store.nextDue()).toBe(Date.parse('2026-11-28T08:00:00.001Z'));

    now = oslo('2026-11-28T09:00:00.001');
    releaser.wake();
    await collector.waitFor(() => collector.counts.has(night.notificationId), 15_000, 'the held SMS at 09:00');
    expect(collector.counts.get(night.notificationId)).toBe(1);
  });

  it('sends once an SMS held just before the window opened whose record is read again inside it', async () => {
    const collector = out();
    const edge = sms(randomUUID(), 'Daytime');
    // what an attempt at 08:59:59.9 left before its transaction failed: the SMS held until 09:00
    const opening = Date.parse('2026-11-29T08:00:00.001Z');
    expect(await store.schedule(edge.notificationId, opening, Buffer.from(JSON.stringify(edge)))).toBe('scheduled');
    now = oslo('2026-11-29T09:00:05');
    await publishSms(edge);
    await collector.waitFor(() => collector.counts.has(edge.notificationId), 15_000, 'the SMS read again at 09:00:05');
    // the stage took it out of the schedule as it passed it on: no releaser can send it again
    expect(await store.counts()).toMatchObject({ waiting: 0, leased: 0 });
    expect(await store.cancel(edge.notificationId, now)).not.toBe('cancelled');
    expect(collector.counts.get(edge.notificationId)).toBe(1);
  });

  it('lets a Daytime SMS through at once inside the window', async () => {
    const collector = out();
    now = oslo('2026-11-28T10:00:00');
    const day = sms(randomUUID(), 'Daytime');
    await publishSms(day);
    await collector.waitFor(() => collector.counts.has(day.notificationId), 15_000, 'the Daytime SMS');
    expect(await store.counts()).toMatchObject({ waiting: 0, leased: 0 });
  });
});
