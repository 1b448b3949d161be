import type { AddressInfo } from 'node:net';
import express from 'express';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dailyExport, type ExportDay } from '../../gateway/daily-metrics.ts';
import { Slots, SlotsFull } from '../../gateway/http/slots.ts';
import { EXPORT_RETRY_AFTER_S, metricsRouter } from '../../gateway/routers/metrics.ts';
import { createLogger } from '../../platform/logger.ts';
import type { DailyNotification } from '../../platform/view/store.ts';

describe('Slots: at most so many at once, so many more waiting in turn', () => {
  it('hands slots out in the order asked, passes a slot given back to the first waiter, and refuses beyond the queue', async () => {
    const slots = new Slots(2, 2);
    const a = await slots.acquire();
    const b = await slots.acquire();
    const order: string[] = [];
    const c = slots.acquire().then((r) => (order.push('c'), r));
    const d = slots.acquire().then((r) => (order.push('d'), r));
    expect([slots.running, slots.queued]).toEqual([2, 2]);
    await expect(slots.acquire()).rejects.toBeInstanceOf(SlotsFull);
    b();
    b(); // (a second call gives back nothing more)
    const releaseC = await c;
    expect(order).toEqual(['c']);
    expect([slots.running, slots.queued]).toEqual([2, 1]);
    a();
    const releaseD = await d;
    expect(order).toEqual(['c', 'd']);
    releaseC();
    releaseD();
    expect([slots.running, slots.queued]).toEqual([0, 0]);
  });

  it('takes a waiter whose signal aborts out of the queue at once, and refuses one already aborted', async () => {
    const slots = new Slots(1, 1);
    const held = await slots.acquire();
    const gone = new AbortController();
    const waiting = slots.acquire(gone.signal);
    await expect(slots.acquire()).rejects.toBeInstanceOf(SlotsFull);
    gone.abort(new Error('went away'));
    await expect(waiting).rejects.toThrow('went away');
    expect(slots.queued).toBe(0);
    // its place is free for another, who gets the slot when it is given back
    const next = slots.acquire();
    held();
    (await next)();
    expect([slots.running, slots.queued]).toEqual([0, 0]);
    await expect(slots.acquire(AbortSignal.abort(new Error('already gone')))).rejects.toThrow('already gone');
    expect(() => new Slots(0, 1)).toThrow(RangeError);
  });
});

/**
 * The daily exports' turns over HTTP: the router with a view whose pages come when the test
 * lets them, so which export is building and which waits is known (the exports themselves, on
 * the stack's Redis: daily-metrics.test.ts).
 */
describe('the daily exports take turns: DAILY_EXPORT_CONCURRENCY at once, DAILY_EXPORT_QUEUE waiting, 429 beyond', () => {
  const KEY = 'export-slots-test-key-0123456789';
  const metrics = new Registry();
  const started: { channel: string; go: () => void }[] = [];
  async function* pages(channel: string): AsyncGenerator<DailyNotification[]> {
    await new Promise<void>((go) => started.push({ channel, go }));
    yield [];
  }
  // (in this thread, from pages that come when the test lets them)
  const exportDay: ExportDay = (job, signal) =>
    dailyExport(job.channel, job.day, pages(job.channel), job.environment, job.now, signal);
  let url = '';
  let close = () => {};
  beforeAll(async () => {
    const app = express();
    app.use(
      metricsRouter({
        view: { monthlyMetrics: () => Promise.reject(new Error('not asked')) },
        exportDay,
        clock: () => Date.UTC(2026, 11, 5, 12),
        apiKey: KEY,
        exports: new Slots(1, 1),
        metrics,
        log: createLogger({ level: 'silent' }),
      }),
    );
    const server = app.listen(0);
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    close = () => server.close();
  });
  afterAll(() => close());

  const post = (channel: string, signal?: AbortSignal) =>
    fetch(`${url}/${channel}`, { method: 'POST', headers: { 'x-api-key': KEY }, ...(signal ? { signal } : {}) });
  const gauge = async () => {
    const values = (await metrics.getSingleMetric('gateway_daily_exports')!.get()).values;
    return Object.fromEntries(values.map((v) => [v.labels.state, v.value]));
  };
  const refused = async () =>
    (await metrics.getSingleMetric('gateway_daily_exports_refused_total')!.get()).values.reduce(
      (n, v) => n + v.value,
      0,
    );

  it('builds one, queues one, refuses the next with Retry-After; a waiter that goes away leaves its place', async () => {
    const first = post('sms');
    await vi.waitFor(() => expect(started).toHaveLength(1));
    const goneWaiter = new AbortController();
    const waiter = post('email', goneWaiter.signal).catch((e: unknown) => e);
    await vi.waitFor(async () => expect(await gauge()).toEqual({ running: 1, waiting: 1 }));

    const over = await post('sms');
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe(String(EXPORT_RETRY_AFTER_S));
    expect(over.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await over.json()).toEqual({
      status: 429,
      title: 'Too Many Requests',
      detail:
        'Too many daily exports at once: 1 being made and 1 waiting, the most this gateway takes. Try again later.',
    });
    expect(await refused()).toBe(1);

    // the waiter's client goes away: its place is free, and it never builds
    goneWaiter.abort();
    expect(((await waiter) as Error).name).toBe('AbortError');
    await vi.waitFor(async () => expect(await gauge()).toEqual({ running: 1, waiting: 0 }));
    const second = post('email');
    await vi.waitFor(async () => expect(await gauge()).toEqual({ running: 1, waiting: 1 }));

    started[0]!.go();
    const one = await first;
    expect([one.status, one.headers.get('x-total-filetransfer-count')]).toEqual([200, '0']);
    await one.arrayBuffer();
    // the turn passes to the one that waited
    await vi.waitFor(() => expect(started.map((s) => s.channel)).toEqual(['sms', 'email']));
    expect(await gauge()).toEqual({ running: 1, waiting: 0 });
    started[1]!.go();
    const two = await second;
    expect(two.status).toBe(200);
    await two.arrayBuffer();
    expect(await gauge()).toEqual({ running: 0, waiting: 0 });
    expect(started).toHaveLength(2);
  });

  it('gives the turn back when the client of the export being built goes away', async () => {
    started.length = 0;
    const gone = new AbortController();
    const building = post('sms', gone.signal).catch((e: unknown) => e);
    await vi.waitFor(() => expect(started).toHaveLength(1));
    gone.abort();
    await building;
    // (the export stops at its next page)
    started[0]!.go();
    await vi.waitFor(async () => expect(await gauge()).toEqual({ running: 0, waiting: 0 }));
    const next = post('email');
    await vi.waitFor(() => expect(started).toHaveLength(2));
    started[1]!.go();
    expect((await next).status).toBe(200);
  });
});
