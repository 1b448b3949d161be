import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import { SharedAccountLimit } from '../../platform/redis/account-limits.ts';
import { smscOf } from '../support/smsc.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import {
  eventually,
  publish,
  sampleEmail,
  sampleSms,
  stackEnv,
  stageEnv,
  testClients,
  testConfig,
  uniquePrefix,
  testRedis,
} from '../support/stack.ts';

/** The most of `times` (epoch ms) that fall in any `spanMs` long stretch. */
function mostWithin(times: number[], spanMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= spanMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/**
 * Limits that belong to a provider account hold across instances: two send-sms processes (each
 * with its own SMPP session and its own partitions) together stay within the SMSC account's
 * window and TPS, two send-email processes within the SMTP rate. Each process alone would fill
 * the whole limit, so two that did not share it would go over it twice.
 */
describe('account limits shared by every instance of a sender', () => {
  const env = stackEnv();
  const processes: StageProcess[] = [];
  afterAll(() => {
    for (const p of processes) p.child.kill('SIGKILL');
  });

  async function twoInstances(stage: string, processEnv: Record<string, string>): Promise<StageProcess[]> {
    const pair = [startStageProcess([stage], processEnv), startStageProcess([stage], processEnv)];
    processes.push(...pair);
    await Promise.all(pair.map((p) => p.running));
    return pair;
  }

  async function smsRun(systemId: string, limits: Record<string, string>, smsc: Record<string, string>, n: number) {
    const prefix = uniquePrefix('smslimit');
    const config = testConfig(prefix, { TOPIC_PARTITIONS: '4' });
    const { kafka, codec } = testClients(config);
    try {
      await provision(kafka, codec, config);
      const res = await fetch(`${env.SMSC_CONTROL_URL}/rules?${new URLSearchParams({ systemId, ...smsc })}`, {
        method: 'POST',
      });
      expect(res.status).toBe(200);
      await twoInstances('send-sms', {
        ...stageEnv(config),
        SMSC_HOST: env.SMSC_HOST,
        SMSC_PORT: env.SMSC_PORT,
        SMPP_SYSTEM_ID: systemId,
        SMPP_PASSWORD: 'secret',
        ...limits,
      });
      const batch = Array.from({ length: n }, (_, i) => sampleSms(`limit ${i}`));
      await publish(
        kafka,
        codec,
        prefix,
        'smsQueue',
        batch.map((s) => ({ key: s.notificationId, value: s })),
      );
      const { stats, messages: submitted } = smscOf(systemId);
      // the SMSC is another process: its counters are read, there is no event to await
      await eventually(async () => (await stats()).accepted >= n, `${n} SMS accepted`, 60_000);
      const messages = await submitted();
      return { ...(await stats()), times: messages.map((m) => m.receivedAt) };
    } finally {
      await kafka.close();
    }
  }

  it('keeps two send-sms instances together within the SMSC account window', async () => {
    const systemId = `win-${randomUUID().slice(0, 8)}`;
    // each answer takes 100 ms, so a window of 3 shared passes ~30/s, unshared it would be 6
    const r = await smsRun(systemId, { SMPP_WINDOW: '3', SMPP_TPS: '1000' }, { respondDelayMs: '100' }, 60);
    console.log(`SMSC window 3, two instances: ${r.binds} sessions, at most ${r.maxInFlight} submit_sm under way`);
    expect(r.binds).toBeGreaterThanOrEqual(2);
    expect(r.maxInFlight).toBeLessThanOrEqual(3);
    // and the window was used, not left idle
    expect(r.maxInFlight).toBe(3);
  });

  it('keeps two send-sms instances together within the SMSC account TPS', async () => {
    const systemId = `tps-${randomUUID().slice(0, 8)}`;
    const r = await smsRun(systemId, { SMPP_WINDOW: '10', SMPP_TPS: '20' }, {}, 80);
    const most = mostWithin(r.times, 1_000);
    console.log(`SMSC TPS 20, two instances: ${r.binds} sessions, at most ${most} submit_sm accepted in one second`);
    expect(r.binds).toBeGreaterThanOrEqual(2);
    // paced slots 50 ms apart: 20 in a second, and one more where a second's edges both hold one
    expect(most).toBeLessThanOrEqual(21);
    expect(most).toBeGreaterThanOrEqual(15);
  });

  it('keeps two send-email instances together within the SMTP account rate', async () => {
    const sink = await startSmtpSink();
    const prefix = uniquePrefix('maillimit');
    const config = testConfig(prefix, { TOPIC_PARTITIONS: '4' });
    const { kafka, codec } = testClients(config);
    let pair: StageProcess[] = [];
    try {
      await provision(kafka, codec, config);
      pair = await twoInstances('send-email', {
        ...stageEnv(config),
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(sink.port),
        SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
        EMAIL_RATE_PER_SECOND: '25',
        SMTP_POOL_SIZE: '4',
      });
      const n = 100;
      const batch = Array.from({ length: n }, (_, i) => sampleEmail(`limit${i}@example.com`));
      await publish(
        kafka,
        codec,
        prefix,
        'emailQueue',
        batch.map((e) => ({ key: e.notificationId, value: e })),
      );
      const published = Date.now();
      await eventually(async () => Promise.resolve(sink.arrivals.size >= n), `${n} emails at the sink`, 60_000);
      console.log(`${n} emails at the sink ${Date.now() - published} ms after they were published`);
      const arrivals = [...sink.arrivals.values()].sort((a, b) => a - b);
      const most = mostWithin(arrivals, 1_000);
      const steady = mostWithin(
        arrivals.filter((t) => t >= arrivals[0]! + 1_000),
        1_000,
      );
      console.log(
        `SMTP rate 25/s, two instances: at most ${most} emails accepted in one second ` +
          `(${steady} after the first second)`,
      );
      // The limit paces when hand-offs start; the sink sees them when their SMTP exchange ends.
      // The first message on each new pooled connection also waits for the connection, so up
      // to one per connection (2 × 4) can arrive bunched at the start; after that, the rate.
      // Two instances that did not share the limit would deliver about 50 in every second.
      expect(most).toBeLessThanOrEqual(25 + 8);
      expect(steady).toBeLessThanOrEqual(25 + 2);
      expect(steady).toBeGreaterThanOrEqual(18);
    } finally {
      // the senders first: the sink's close waits for their pooled connections
      for (const p of pair) p.child.kill('SIGTERM');
      await Promise.all(pair.map((p) => p.exited));
      await kafka.close();
      await sink.close();
    }
  });

  it('keeps window places for the instant lane: the queue’s submits leave them free, the lane’s take them', async () => {
    const redis = testRedis();
    const prefix = `${uniquePrefix('reserve')}limits:`;
    try {
      // an account window of 5, 2 of them kept for the lane: two limits on the same keys
      const queue = new SharedAccountLimit(redis, prefix, { perSecond: 10_000, window: 3, leaseMs: 60_000 });
      const lane = new SharedAccountLimit(redis, prefix, { perSecond: 10_000, window: 5, leaseMs: 60_000 });
      const held = [await queue.acquire(), await queue.acquire(), await queue.acquire()];
      let fourth = false;
      const waiting = queue.acquire().then((p) => {
        fourth = true;
        return p;
      });
      // the lane takes the two places the queue left, though the queue has one waiting
      const kept = [await lane.acquire(), await lane.acquire()];
      expect(fourth).toBe(false);
      // the lane's places given back are the lane's again: the queue still has its three
      for (const p of kept) p.release();
      expect((await Promise.all([lane.acquire(), lane.acquire()])).map((p) => p.release())).toHaveLength(2);
      expect(fourth).toBe(false);
      // the queue's waiter gets the next place one of its own gives back
      held[0]!.release();
      (await waiting).release();
      for (const p of held) p.release();
    } finally {
      redis.disconnect();
    }
  });

  it('books one start slot at a time for a sender that asks for it, so it holds no one’s slots', async () => {
    const redis = testRedis();
    const prefix = `${uniquePrefix('block')}limits:`;
    // how far ahead of Redis's clock the account's next free slot is, µs
    const ahead = async () => {
      const [sec, us] = await redis.time();
      return Number(await redis.get(`{${prefix}}next`)) - (Number(sec) * 1e6 + Number(us));
    };
    try {
      // an unpaced account (a million a second): a block is 50 ms worth of slots
      const blocks = new SharedAccountLimit(redis, prefix, { perSecond: 1_000_000, window: 0, leaseMs: 0 });
      const single = new SharedAccountLimit(redis, prefix, {
        perSecond: 1_000_000,
        window: 0,
        leaseMs: 0,
        maxBlock: 1,
      });
      (await blocks.acquire()).release();
      expect(await ahead()).toBeGreaterThan(40_000);
      await redis.del(`{${prefix}}next`);
      (await single.acquire()).release();
      expect(await ahead()).toBeLessThan(1_000);
    } finally {
      redis.disconnect();
    }
  });

  it('gives the window places of a holder that died back once their lease lapses', async () => {
    const redis = testRedis();
    const prefix = `${uniquePrefix('lease')}limits:`;
    try {
      const dead = new SharedAccountLimit(redis, prefix, { perSecond: 1000, window: 2, leaseMs: 300 });
      await dead.acquire();
      await dead.acquire(); // never released: its process is gone
      const live = new SharedAccountLimit(redis, prefix, { perSecond: 1000, window: 2, leaseMs: 60_000 });
      const started = Date.now();
      const first = await live.acquire();
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      // places given back are free at once (held places would block for the 60 s lease)
      first.release();
      for (let i = 0; i < 4; i++) {
        const a = await live.acquire();
        const b = await live.acquire();
        a.release();
        b.release();
      }
    } finally {
      redis.disconnect();
    }
  });
});
