import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { ownRedisServer } from '../support/redis-server.ts';
import { testRedis } from '../support/stack.ts';

const clients: Redis[] = [];
const client = () => {
  const r = testRedis();
  clients.push(r);
  return r;
};
const store = (prefix: string) => new ScheduleStore(client(), prefix);
const prefix = () => `t-sched-${randomUUID().slice(0, 8)}:`;

afterAll(() => {
  for (const c of clients) c.disconnect();
});

describe('schedule store', () => {
  it('releases only what is due, earliest first, with its payload intact', async () => {
    const s = store(prefix());
    const bytes = Buffer.from([0, 1, 2, 255, 0, 10]);
    await s.schedule('late', 3_000, Buffer.from('late'));
    await s.schedule('early', 1_000, bytes);
    await s.schedule('middle', 2_000, Buffer.from('middle'));
    expect(await s.nextDue()).toBe(1_000);
    const claimed = await s.claim(2_000, 10, 60_000);
    expect(claimed.map((c) => c.id)).toEqual(['early', 'middle']);
    expect(claimed[0]!.payload.equals(bytes)).toBe(true);
    expect(claimed[0]!.dueAt).toBe(1_000);
    expect(await s.counts()).toEqual({ waiting: 1, leased: 2, passing: 0, final: 0 });
  });

  it('never gives the same item to two releasers claiming at once', async () => {
    const p = prefix();
    const s = store(p);
    const N = 10_000;
    const ids = Array.from({ length: N }, (_, i) => `item-${i}`);
    for (let i = 0; i < N; i += 500) {
      await Promise.all(ids.slice(i, i + 500).map((id, j) => s.schedule(id, i + j, Buffer.from(id))));
    }
    const releasers = [store(p), store(p), store(p), store(p)];
    const taken = await Promise.all(
      releasers.map(async (r) => {
        const mine: string[] = [];
        for (;;) {
          const batch = await r.claim(Date.now(), 97, 60_000);
          if (batch.length === 0) return mine;
          mine.push(...batch.map((b) => b.id));
        }
      }),
    );
    const all = taken.flat();
    expect(all).toHaveLength(N);
    expect(new Set(all).size).toBe(N);
    expect(taken.filter((t) => t.length > 0).length).toBeGreaterThan(1);
  });

  it('makes an item claimable again when its releaser dies before acknowledging it', async () => {
    const s = store(prefix());
    await s.schedule('order-1', 1_000, Buffer.from('x'));
    expect(await s.claim(5_000, 10, 30_000)).toHaveLength(1);
    expect(await s.claim(5_000, 10, 30_000)).toHaveLength(0);
    expect(await s.requeueExpired(34_999)).toBe(0);
    expect(await s.requeueExpired(35_001)).toBe(1);
    const again = await s.claim(35_001, 10, 30_000);
    expect(again).toEqual([{ id: 'order-1', dueAt: 1_000, payload: Buffer.from('x') }]);
  });

  it('never schedules a released item again, so replaying the source topic releases nothing twice', async () => {
    const s = store(prefix());
    expect(await s.schedule('order-1', 1_000, Buffer.from('x'))).toBe('scheduled');
    expect(await s.schedule('order-1', 1_500, Buffer.from('x'))).toBe('rescheduled');
    await s.claim(2_000, 10, 30_000);
    expect(await s.schedule('order-1', 1_000, Buffer.from('x'))).toBe('in-flight');
    expect(await s.ack(['order-1'], 2_100)).toBe(1);
    expect(await s.schedule('order-1', 1_000, Buffer.from('x'))).toBe('final');
    expect(await s.claim(10_000, 10, 30_000)).toHaveLength(0);
    expect(await s.counts()).toEqual({ waiting: 0, leased: 0, passing: 0, final: 1 });
    expect(await s.trimFinal(2_100)).toBe(1);
    expect(await s.counts()).toEqual({ waiting: 0, leased: 0, passing: 0, final: 0 });
  });

  it('lets one record claim a due item to pass it on, again after a failed attempt, and no one else', async () => {
    const s = store(prefix());
    const p = Buffer.from('order');
    expect(await s.pass('a', 1_000, p, 'orders:0:5', 2_000)).toBe('pass');
    // the same record, read again because its transaction did not commit
    expect(await s.pass('a', 1_000, p, 'orders:0:5', 3_000)).toBe('again');
    // another record of the same order, or a schedule call, finds it in flight
    expect(await s.pass('a', 1_000, p, 'orders:0:9', 3_000)).toBe('in-flight');
    expect(await s.schedule('a', 9_000, p)).toBe('in-flight');
    expect(await s.cancel('a', 3_000)).toBe('in-flight');
    expect(await s.counts()).toEqual({ waiting: 0, leased: 0, passing: 1, final: 0 });
    expect(await s.passed(['a'], 4_000)).toBe(1);
    expect(await s.pass('a', 1_000, p, 'orders:0:5', 5_000)).toBe('final');
    expect(await s.cancel('a', 5_000)).toBe('released');
    // an item waiting in the schedule is taken out of it when a record passes it on
    await s.schedule('b', 1_000, p);
    expect(await s.pass('b', 1_000, p, 'orders:1:1', 2_000)).toBe('pass');
    expect(await s.claim(10_000, 10, 60_000)).toEqual([]);
    // a releaser leasing it first wins
    await s.schedule('c', 1_000, p);
    expect((await s.claim(2_000, 10, 60_000)).map((i) => i.id)).toEqual(['c']);
    expect(await s.pass('c', 1_000, p, 'orders:1:2', 2_000)).toBe('in-flight');
  });

  it('passes many items in a few script runs with the answers `pass` gives each, in order', async () => {
    const s = store(prefix());
    const p = (id: string) => Buffer.from(`order ${id}`);
    await s.pass('done', 1_000, p('done'), 'orders:0:1', 2_000);
    await s.passed(['done'], 2_000);
    await s.schedule('leased', 1_000, p('leased'));
    await s.claim(2_000, 10, 60_000);
    await s.pass('mine', 1_000, p('mine'), 'orders:0:7', 2_000); // its transaction then failed
    const fresh = Array.from({ length: 600 }, (_, i) => `n${i}`); // more than one script run
    const list = [
      { id: 'done', source: 'orders:0:2' },
      { id: 'leased', source: 'orders:0:3' },
      { id: 'mine', source: 'orders:0:7' },
      ...fresh.map((id, i) => ({ id, source: `orders:1:${i}` })),
      { id: 'n5', source: 'orders:1:999' }, // the same order again in the batch, from another record
    ].map(({ id, source }) => ({ id, dueAt: 1_000, payload: p(id), source }));
    const results = await s.passMany(list, 3_000);
    expect(results).toEqual(['final', 'in-flight', 'again', ...fresh.map(() => 'pass'), 'in-flight']);
    expect(await s.counts()).toEqual({ waiting: 0, leased: 1, passing: 601, final: 1 });
    // each claim keeps what a releaser needs if its stage never marks it passed
    await s.requeuePassing(['n599'], 10_000);
    const claimed = await s.claim(10_000, 10, 60_000);
    expect(claimed.map((i) => [i.id, i.payload.toString()])).toEqual([['n599', 'order n599']]);
    expect(await s.passMany([], 3_000)).toEqual([]);
  });

  it('re-queues only claims to pass on that are still older than asked, at their due time', async () => {
    const s = store(prefix());
    const p = Buffer.from('order');
    await s.pass('old', 1_000, p, 'orders:0:1', 2_000);
    await s.pass('renewed', 1_500, p, 'orders:0:2', 2_000);
    expect((await s.abandonedPassing(5_000)).map((c) => c.id)).toEqual(['old', 'renewed']);
    // the record of `renewed` claimed it again (its transaction had failed) before the re-queue
    expect(await s.pass('renewed', 1_500, p, 'orders:0:2', 6_000)).toBe('again');
    expect(await s.requeuePassing(['old', 'renewed'], 5_000)).toBe(1);
    expect(await s.counts()).toEqual({ waiting: 1, leased: 0, passing: 1, final: 0 });
    const claimed = await s.claim(10_000, 10, 60_000);
    expect(claimed.map((i) => [i.id, i.dueAt, i.payload.toString()])).toEqual([['old', 1_000, 'order']]);
  });

  it('cancels only what is still waiting', async () => {
    const s = store(prefix());
    await s.schedule('waiting', 10_000, Buffer.from('w'));
    await s.schedule('leased', 1_000, Buffer.from('l'));
    await s.schedule('released', 1_000, Buffer.from('r'));
    await s.claim(1_000, 10, 30_000);
    await s.ack(['released'], 1_100);
    expect(await s.cancel('waiting', 1_200)).toBe('cancelled');
    expect(await s.cancel('waiting', 1_300)).toBe('already-cancelled');
    expect(await s.cancel('leased', 1_200)).toBe('in-flight');
    expect(await s.cancel('released', 1_200)).toBe('released');
    expect(await s.cancel('nothing', 1_200)).toBe('cancelled-before-scheduled');
    expect(await s.schedule('nothing', 5_000, Buffer.from('late'))).toBe('final');
    expect(await s.schedule('waiting', 10_000, Buffer.from('w'))).toBe('final');
    expect(await s.claim(20_000, 10, 30_000)).toHaveLength(0);
  });

  it('keeps a cancellation’s announcement until it is published, for the leader to publish if its canceller does not', async () => {
    const s = store(prefix());
    const event = (n: number) => ({ topic: 'status', key: `k${n}`, value: Buffer.from([0, n, 255, 10]) });
    await s.schedule('a', 10_000, Buffer.from('a'));
    await s.schedule('b', 10_000, Buffer.from('b'));
    await s.schedule('c', 1_000, Buffer.from('c'));
    await s.claim(1_000, 10, 30_000);
    expect(await s.cancel('a', 1_000, event(1))).toBe('cancelled');
    expect(await s.cancel('b', 1_100, event(2))).toBe('cancelled');
    expect(await s.cancel('early', 1_200, event(3))).toBe('cancelled-before-scheduled');
    // nothing is kept of a cancellation refused, nor of one made without an announcement
    expect(await s.cancel('c', 1_300, event(4))).toBe('in-flight');
    expect(await s.cancel('d', 1_300)).toBe('cancelled-before-scheduled');
    // the canceller of b published its announcement
    await s.announced(['b']);
    // a retry of a's cancellation keeps the first announcement and its time
    expect(await s.cancel('a', 1_500, event(9))).toBe('already-cancelled');

    // only the leader claims, and only what was kept at `olderThan` or before
    const leader = 'leader-token';
    expect(await s.holdLeadership(leader, 60_000)).toBe(true);
    await expect(s.claimAnnouncements(5_000, 5_000, 'someone-else')).rejects.toThrow(/NOT_LEADER/);
    expect(await s.claimAnnouncements(999, 5_000, leader)).toEqual([]);
    const first = await s.claimAnnouncements(1_000, 5_000, leader);
    expect(first).toEqual([{ id: 'a', announcement: event(1) }]);
    // claimed, it is kept again from then: not claimed again until as long after
    expect((await s.claimAnnouncements(2_000, 5_000, leader)).map((a) => a.id)).toEqual(['early']);
    expect(await s.claimAnnouncements(4_999, 6_000, leader)).toEqual([]);
    // the leader died before publishing them: the next look claims them again
    expect((await s.claimAnnouncements(5_000, 9_000, leader)).map((a) => a.id)).toEqual(['a', 'early']);
    await s.announced(['a', 'early']);
    expect(await s.claimAnnouncements(100_000, 100_000, leader)).toEqual([]);
  });
});

describe('schedule store gated lanes', () => {
  const sms = (cost: number) => ({ name: 'sms' as const, cost });

  it('keeps a lane out of `claim` and gives it out by cost, the first item always, earliest first', async () => {
    const s = store(prefix());
    await s.schedule('plain', 1_000, Buffer.from('p'));
    await s.schedule('a', 1_000, Buffer.from('a'), sms(10));
    await s.schedule('b', 1_100, Buffer.from('b'), sms(10));
    await s.schedule('c', 1_200, Buffer.from('c'), sms(10));
    await s.schedule('later', 9_000, Buffer.from('l'), sms(1));
    await s.schedule('mail', 1_000, Buffer.from('m'), { name: 'email', cost: 1 });
    expect((await s.claim(2_000, 10, 60_000)).map((i) => i.id)).toEqual(['plain']);
    expect(await s.nextGatedDue('sms')).toBe(1_000);
    expect(await s.backlog(2_000)).toEqual({ waiting: 1, due: 4, leased: 1, passing: 0, gated: 4 });
    // a budget of 25 takes two of cost 10; a budget below the first item's cost still takes it
    const first = await s.claimGated('sms', 2_000, 25, 10, 60_000);
    expect([first.items.map((i) => [i.id, i.dueAt, i.payload.toString()]), first.cost]).toEqual([
      [
        ['a', 1_000, 'a'],
        ['b', 1_100, 'b'],
      ],
      20,
    ]);
    const second = await s.claimGated('sms', 2_000, 1, 10, 60_000);
    expect([second.items.map((i) => i.id), second.cost]).toEqual([['c'], 10]);
    expect((await s.claimGated('sms', 2_000, 100, 10, 60_000)).items).toEqual([]);
    expect((await s.claimGated('email', 2_000, 100, 10, 60_000)).items.map((i) => i.id)).toEqual(['mail']);
    expect((await s.claimGated('sms', 9_000, 100, 10, 60_000)).items.map((i) => i.id)).toEqual(['later']);
  });

  it('puts a leased item back in its lane when its lease runs out or it is re-queued, and releases it once', async () => {
    const s = store(prefix());
    await s.schedule('x', 1_000, Buffer.from('x'), sms(3));
    await s.schedule('y', 1_000, Buffer.from('y'), sms(3));
    await s.claimGated('sms', 2_000, 100, 10, 30_000);
    expect(await s.schedule('x', 1_000, Buffer.from('x'), sms(3))).toBe('in-flight');
    expect(await s.pass('x', 1_000, Buffer.from('x'), 'orders:0:1', 2_000)).toBe('in-flight');
    expect(await s.requeueExpired(40_000)).toBe(2);
    expect(await s.claim(40_000, 10, 30_000)).toEqual([]);
    const again = await s.claimGated('sms', 40_000, 100, 10, 30_000);
    expect([again.items.map((i) => [i.id, i.dueAt]), again.cost]).toEqual([
      [
        ['x', 1_000],
        ['y', 1_000],
      ],
      6,
    ]);
    expect(await s.requeue(['y'])).toBe(1);
    expect(await s.ack(['x'], 41_000)).toBe(1);
    expect(await s.schedule('x', 1_000, Buffer.from('x'), sms(3))).toBe('final');
    expect((await s.claimGated('sms', 50_000, 100, 10, 30_000)).items.map((i) => i.id)).toEqual(['y']);
    await s.ack(['y'], 51_000);
    expect(await s.counts()).toEqual({ waiting: 0, leased: 0, passing: 0, final: 2 });
    expect(await client().hlen(`${(s as unknown as { k: { lanes: string } }).k.lanes}`)).toBe(0);
  });

  it('moves an item between a lane and the schedule, and cancels, settles or passes it from either', async () => {
    const s = store(prefix());
    expect(await s.schedule('m', 5_000, Buffer.from('m'))).toBe('scheduled');
    expect(await s.schedule('m', 1_000, Buffer.from('m'), sms(2))).toBe('rescheduled');
    expect(await s.claim(10_000, 10, 30_000)).toEqual([]);
    expect(await s.schedule('m', 1_000, Buffer.from('m'))).toBe('rescheduled');
    expect((await s.claimGated('sms', 10_000, 100, 10, 30_000)).items).toEqual([]);
    expect(await s.schedule('m', 1_000, Buffer.from('m'), sms(2))).toBe('rescheduled');
    expect(await s.cancel('m', 2_000)).toBe('cancelled');
    expect((await s.claimGated('sms', 10_000, 100, 10, 30_000)).items).toEqual([]);
    await s.schedule('t', 1_000, Buffer.from('t'), sms(2));
    expect(await s.settle('t', 'released', 2_000)).toBe('settled');
    expect((await s.claimGated('sms', 10_000, 100, 10, 30_000)).items).toEqual([]);
    // a replay of its order found it due and unpaced: it goes in that record's transaction, once
    await s.schedule('r', 1_000, Buffer.from('r'), sms(2));
    expect(await s.pass('r', 1_000, Buffer.from('r'), 'orders:0:4', 2_000)).toBe('pass');
    expect((await s.claimGated('sms', 10_000, 100, 10, 30_000)).items).toEqual([]);
    expect(await s.counts()).toEqual({ waiting: 0, leased: 0, passing: 1, final: 2 });
  });
});

describe('schedule store failures', () => {
  it('reports an unreachable Redis as a retriable DEPENDENCY_UNAVAILABLE, so the record waits', async () => {
    const down = new Redis({
      port: 1,
      host: '127.0.0.1',
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    down.on('error', () => undefined);
    try {
      await expect(new ScheduleStore(down, 'x:').schedule('o', 1, Buffer.from('x'))).rejects.toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        retriable: true,
      });
    } finally {
      down.disconnect();
    }
  });
});

describe('schedule store durability', () => {
  const server = ownRedisServer({ appendOnly: true });
  afterAll(() => server.remove());

  it('keeps scheduled items through a SIGKILL of Redis (append-only file)', async () => {
    await server.start();
    const r1 = new Redis({ path: server.socket });
    const s1 = new ScheduleStore(r1, 'durable:');
    for (let i = 0; i < 100; i++) await s1.schedule(`order-${i}`, 1_000 + i, Buffer.from(`payload-${i}`));
    await s1.claim(1_009, 10, 60_000); // ten in flight when the server dies
    r1.disconnect();
    await server.kill();

    await server.start();
    const r2 = new Redis({ path: server.socket });
    try {
      const s2 = new ScheduleStore(r2, 'durable:');
      expect(await s2.counts()).toEqual({ waiting: 90, leased: 10, passing: 0, final: 0 });
      expect(await s2.requeueExpired(1_009 + 60_001)).toBe(10);
      const all = await s2.claim(10_000, 1_000, 60_000);
      expect(all.map((a) => a.id).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `order-${i}`).sort());
      expect(all.find((a) => a.id === 'order-42')?.payload.toString()).toBe('payload-42');
    } finally {
      r2.disconnect();
    }
  });
});
