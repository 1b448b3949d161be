import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { FairShare, type PaceItem } from '../../platform/redis/fair-share.ts';
import { paceItems } from '../../processors/scheduler/stage.ts';
import { sampleOrder, testRedis } from '../support/stack.ts';

/**
 * The fair share's pacing, against the real Redis: what goes at once, what is paced and at what
 * rate, and how paced creators share the rate by weight.
 */
describe('fair share of the senders between creators', () => {
  const redis = testRedis();
  afterAll(() => redis.disconnect());
  let held = 0;
  let prefix = '';
  const fair = (o: { sms?: number; email?: number; burst?: number; weights?: Record<string, number> } = {}) =>
    new FairShare(redis, (prefix = `test-${randomUUID().slice(0, 8)}:fair:`), {
      perSecond: { sms: o.sms ?? 100, email: o.email ?? 0 },
      burstSeconds: o.burst ?? 1,
      weights: o.weights ?? {},
      held: (_channel, cost) => (held += cost),
    });
  const items = (creator: string, n: number, at: number, channel: 'sms' | 'email' = 'sms'): PaceItem[] =>
    Array.from({ length: n }, () => ({ creator, channel, cost: 1, at }));

  it('lets a creator under its burst go at once, and paces the rest at the rate', async () => {
    const f = fair({ sms: 100, burst: 1 });
    const now = Date.now();
    held = 0;
    const until = await f.pace(items('big', 1000, now), now);
    expect(held).toBe(900);
    const waits = until.map((u) => u - now);
    // 1 s of burst at 100/s: the first 100 at once
    expect(waits.slice(0, 100).every((w) => w === 0)).toBe(true);
    expect(waits[100]).toBeGreaterThan(0);
    expect(waits[100]).toBeLessThanOrEqual(30);
    // then one every 10 ms: 900 more over 9 s
    expect(waits[999]).toBeGreaterThan(8_900);
    expect(waits[999]).toBeLessThan(9_200);
    for (let i = 101; i < 1000; i++) expect(waits[i]! - waits[i - 1]!).toBeGreaterThanOrEqual(9);
  });

  it("leaves another creator's few at once while one is paced", async () => {
    const f = fair({ sms: 100, burst: 1 });
    const now = Date.now();
    await f.pace(items('big', 2000, now), now);
    const small = await f.pace(items('small', 20, now), now);
    expect(small.every((u) => u === now)).toBe(true);
    // the big one stays paced: its next waits behind its 2,000
    const [next] = await f.pace(items('big', 1, now), now);
    expect(next! - now).toBeGreaterThan(18_000);
    // and its state outlives a small one's booking whose own work ends at once
    await f.pace([{ creator: 'big', channel: 'sms', cost: 20_000, at: now }], now);
    await f.pace(items('small', 1, now), now);
    expect(await redis.pttl(`{${prefix}sms}`)).toBeGreaterThan(200_000);
  });

  it('shares the rate between paced creators by weight', async () => {
    const f = fair({ sms: 90, burst: 0.1, weights: { heavy: 2 } });
    const now = Date.now();
    let heavy: number[] = [];
    let light: number[] = [];
    // both place 30 a round, interleaved, as two campaigns arriving together would
    for (let round = 0; round < 30; round++) {
      heavy = heavy.concat(await f.pace(items('heavy', 30, now), now));
      light = light.concat(await f.pace(items('light', 30, now), now));
    }
    // 900 each: at 60/s and 30/s once both are paced
    const heavySpan = (heavy.at(-1)! - now) / 1000;
    const lightSpan = (light.at(-1)! - now) / 1000;
    expect(lightSpan / heavySpan).toBeGreaterThan(1.7);
    expect(lightSpan / heavySpan).toBeLessThan(2.3);
    expect(heavySpan).toBeGreaterThan(13);
    expect(lightSpan).toBeGreaterThan(26);
  });

  it('books work for later apart from work for now', async () => {
    const f = fair({ sms: 100, burst: 1 });
    const now = Date.now();
    const later = now + 3_600_000;
    const booked = await f.pace(items('campaign', 1000, later), now);
    // paced from its own send time
    expect(booked[0]).toBe(later);
    expect(booked[999]! - later).toBeGreaterThan(8_900);
    // its orders for now are not held behind the campaign for later
    const today = await f.pace(items('campaign', 10, now), now);
    expect(today.every((u) => u === now)).toBe(true);
  });

  it('keeps work booked ahead out of the hash every booking reads, and prunes buckets whose time passed', async () => {
    const f = fair({ sms: 100, burst: 1 });
    const key = `{${prefix}sms}`;
    const now = Date.now();
    // a bucket an earlier booking left, its time long past
    await redis.hset(`${key}:ahead`, '1:gone', '1000:1:1000');
    // thousands of creators with work for later, each in its own minute, and one for now
    for (let i = 0; i < 3_000; i += 500)
      await f.pace(
        Array.from({ length: 500 }, (_, j) => ({
          creator: `c${i + j}`,
          channel: 'sms' as const,
          cost: 5,
          at: now + 120_000 + (i + j) * 60_000,
        })),
        now,
      );
    await f.pace(items('now', 5, now), now);
    // the hash a booking reads whole holds the creators booking for now only
    expect(await redis.hkeys(key)).toEqual(['n:now']);
    expect(await redis.hlen(`${key}:ahead`)).toBe(3_000);
    expect(await redis.hexists(`${key}:ahead`, '1:gone')).toBe(0);
    // the minute's bucket is found again by its field: the next of that creator's paced after it
    // (asked later, on the clock of then, as the scheduler asks)
    const again = await f.pace(items('c0', 250, now + 120_000), Date.now());
    expect(again[249]! - (now + 120_000)).toBeGreaterThan(1_530); // 1,550: 50 ms booked before, 2.5 s now, less the 1 s burst
    expect(await redis.pttl(`${key}:ahead`)).toBeGreaterThan(3_000 * 60_000);
  });

  it('passes a channel without a rate by, and counts what an order asks of each channel', async () => {
    const f = fair({ sms: 100, email: 0, burst: 0 });
    const now = Date.now();
    expect(f.paces('email')).toBe(false);
    const until = await f.pace(items('big', 500, now, 'email'), now);
    expect(until.every((u) => u === now)).toBe(true);

    const order = sampleOrder(1, { notificationChannel: 'EmailAndSms', creator: 'ttd' });
    const two = { ...order, recipients: [...order.recipients, ...order.recipients] };
    expect(paceItems(two).map((i) => [i.channel, i.cost])).toEqual([
      ['email', 2],
      ['sms', 2],
    ]);
    expect(paceItems({ ...order, notificationChannel: 'SmsPreferred' }).map((i) => i.channel)).toEqual(['sms']);
    expect(paceItems({ ...order, notificationChannel: 'EmailPreferred' }).map((i) => i.channel)).toEqual(['email']);
  });
});
