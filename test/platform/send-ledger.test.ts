import { ReplyError } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { PipelineError } from '../../platform/errors.ts';
import { SendLedger } from '../../platform/redis/send-ledger.ts';
import { overriding } from '../support/overriding.ts';
import { testRedis, uniquePrefix } from '../support/stack.ts';

/**
 * A sender gives a hand-over's place back once its outcome's write is issued (senderStage): the
 * next claim follows that write on the same connection. A write that failed is tried again
 * later, so a claim's answer is given to its hand-over only once every outcome issued before it
 * is recorded (on the stack's Redis, its writes failing as while Redis restarts).
 */
describe('send ledger: a claim waits for the outcomes issued before it', () => {
  const real = testRedis();
  const prefix = `${uniquePrefix('ledger')}email-`;
  afterAll(() => real.disconnect());
  /** outcome writes still to fail, as while Redis restarts; told of each */
  let failing = 0;
  let failed = () => undefined as void;
  const redis = overriding(real, (prop) =>
    prop === 'set'
      ? (key: string, value: string, ...rest: unknown[]) => {
          if (failing > 0 && value.startsWith('done:')) {
            failing--;
            failed();
            return Promise.reject(new Error('Connection is closed.'));
          }
          return (real.set as (...a: unknown[]) => Promise<unknown>).call(real, key, value, ...rest);
        }
      : undefined,
  );
  const ledger = new SendLedger(redis, prefix, 3600, { initialMs: 100, maxMs: 100, factor: 1, maxAttempts: 10 });

  it('claims the next notification only once the failed outcome is recorded', async () => {
    expect(await ledger.begin('a')).toBeNull();
    failing = 2;
    const firstFailed = new Promise<void>((r) => (failed = r));
    const order: string[] = [];
    const recorded = ledger.done('a', 'Email_Succeeded', 'ref-a').then(() => void order.push('a recorded'));
    // the next claim is asked for once the first write has failed (and its failure been taken in)
    await firstFailed;
    await new Promise((r) => setImmediate(r));
    const claimed = ledger.begin('b').then((entry) => void order.push(`b claimed (${entry === null})`));
    await Promise.all([recorded, claimed]);
    expect(order).toEqual(['a recorded', 'b claimed (true)']);
    expect(await real.get(`${prefix}ledger:a`)).toBe('done:Email_Succeeded|ref-a');
  });

  it('holds a claim made while the outcome before it was still failing until that outcome is recorded', async () => {
    expect(await ledger.begin('c')).toBeNull();
    failing = 1;
    const order: string[] = [];
    // issued together, as a place given back at the server's answer makes its next claim
    const recorded = ledger.done('c', 'Email_Succeeded', 'ref-c').then(() => void order.push('c recorded'));
    const claimed = ledger.begin('d').then((entry) => void order.push(`d claimed (${entry === null})`));
    await Promise.all([recorded, claimed]);
    expect(order).toEqual(['c recorded', 'd claimed (true)']);
    expect(await real.get(`${prefix}ledger:c`)).toBe('done:Email_Succeeded|ref-c');
  });
});

/**
 * A claim names its sender. Another instance's claim may be a hand-over still under way (the
 * partition moved here at a rebalance while that instance finished what it had started): it is
 * waited out, and its outcome reported, not taken for a crash. A claim of this process whose
 * answer was lost (Redis restarting) is known as its own: nothing was handed over under it.
 */
describe('send ledger: whose claim it is', () => {
  const real = testRedis();
  const prefix = `${uniquePrefix('ledger-claims')}sms-`;
  afterAll(() => real.disconnect());
  /**
   * per key, how the next claim's write goes: its answer lost, sent twice (the client's resend),
   * or refused outright, not made (a primary a failover demoted answers READONLY)
   */
  const next = new Map<string, 'lost' | 'resent' | 'refused'>();
  /** deletions to fail, as while Redis restarts */
  let failDeletes = 0;
  const redis = overriding(real, (prop) =>
    prop === 'del'
      ? (...keys: string[]) => {
          if (failDeletes > 0) {
            failDeletes--;
            return Promise.reject(new Error('Connection is closed.'));
          }
          return (real.del as (...a: string[]) => Promise<number>).call(real, ...keys);
        }
      : prop === 'set'
        ? async (key: string, value: string, ...rest: unknown[]) => {
            const set = () => (real.set as (...a: unknown[]) => Promise<unknown>).call(real, key, value, ...rest);
            const how = value.startsWith('sending') ? next.get(key) : undefined;
            next.delete(key);
            if (how === 'lost') {
              await set();
              throw new Error('Connection is closed.');
            }
            if (how === 'resent') {
              await set();
              return set();
            }
            if (how === 'refused') throw new ReplyError("READONLY You can't write against a read only replica.");
            return set();
          }
        : undefined,
  );
  const key = (id: string) => `${prefix}ledger:${id}`;
  const here = new SendLedger(redis, prefix, 3600, undefined, { waitMs: 60_000, pollMs: 20 });
  const there = new SendLedger(redis, prefix, 3600, undefined, { waitMs: 60_000, pollMs: 20 });

  it('waits out another instance’s claim and reports the outcome it records', async () => {
    expect(await there.begin('a')).toBeNull();
    let settled = false;
    const replay = here.begin('a').then((entry) => ((settled = true), entry));
    // still waiting while the other's hand-over is under way
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    await there.done('a', 'SMS_Accepted', 'smsc:1F');
    expect(await replay).toEqual({ state: 'done', status: 'SMS_Accepted', reference: 'smsc:1F', description: null });
  });

  it('takes another instance’s claim still unsettled after the wait for its crash', async () => {
    const impatient = new SendLedger(redis, prefix, 3600, undefined, { waitMs: 400, pollMs: 20 });
    expect(await there.begin('b')).toBeNull();
    expect(await impatient.begin('b')).toEqual({ state: 'sending' });
  });

  it('takes the claim of a sender that no longer says it lives for a crash’s, without waiting it out', async () => {
    // it says it lives once, and then no more, as a process killed
    const killed = new SendLedger(redis, prefix, 3600, undefined, { liveness: { everyMs: 3_600_000, ttlMs: 300 } });
    expect(await killed.begin('j')).toBeNull();
    // (the claim is waited out for a minute: a wait would outlast the test)
    const taking = new SendLedger(redis, prefix, 3600, undefined, {
      waitMs: 60_000,
      pollMs: 20,
      liveness: { graceMs: 300 },
    });
    expect(await taking.begin('j')).toEqual({ state: 'sending' });
    // and one that closed, its hand-overs settled, says so at once
    const closing = new SendLedger(redis, prefix, 3600);
    expect(await closing.begin('l')).toBeNull();
    await closing.close();
    expect(await taking.begin('l')).toEqual({ state: 'sending' });
  });

  it('waits for a live sender whose word was lost (a Redis restart) until it says it lives again', async () => {
    const renewing = new SendLedger(redis, prefix, 3600, undefined, { liveness: { everyMs: 300 } });
    const patient = new SendLedger(redis, prefix, 3600, undefined, {
      waitMs: 60_000,
      pollMs: 20,
      liveness: { graceMs: 2_000 },
    });
    expect(await renewing.begin('k')).toBeNull();
    const alive = `${prefix}ledger-alive:${(await real.get(key('k')))!.split('|')[1]}`;
    await real.del(alive);
    let settled = false;
    const replay = patient.begin('k').then((entry) => ((settled = true), entry));
    while ((await real.exists(alive)) === 0) await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    await renewing.done('k', 'SMS_Accepted', 'smsc:2F');
    expect(await replay).toEqual({ state: 'done', status: 'SMS_Accepted', reference: 'smsc:2F', description: null });
    await renewing.close();
  });

  it('reports its own earlier attempt’s claim at once: that attempt stopped inside its hand-over', async () => {
    expect(await here.begin('c')).toBeNull();
    // (waitMs is a minute: a wait would outlast the test)
    expect(await here.begin('c')).toEqual({ state: 'sending' });
  });

  it('knows its own claim whose answer was lost, or which the client sent again, and uses it', async () => {
    next.set(key('d'), 'lost');
    await expect(here.begin('d')).rejects.toThrow(/send ledger \(begin\): Connection is closed/);
    expect(await real.get(key('d'))).toMatch(/^sending\|/);
    expect(await here.begin('d')).toBeNull();

    next.set(key('e'), 'resent');
    expect(await here.begin('e')).toBeNull();

    // another instance still takes either for a hand-over under way
    const impatient = new SendLedger(redis, prefix, 3600, undefined, { waitMs: 100, pollMs: 20 });
    expect(await impatient.begin('d')).toEqual({ state: 'sending' });
  });

  it('uses its own claim let go while Redis could not be told: nothing was handed over under it', async () => {
    expect(await here.begin('g')).toBeNull();
    failDeletes = 1;
    await expect(here.abandon('g')).rejects.toThrow(/send ledger \(abandon\)/);
    expect(await real.get(key('g'))).toMatch(/^sending\|/);
    expect(await here.begin('g')).toBeNull();
    // let go for good: the next claim, here or anywhere, is a new one
    await here.abandon('g');
    expect(await real.get(key('g'))).toBeNull();
    expect(await there.begin('g')).toBeNull();
  });

  it('knows every claim of its own under which nothing was handed over, not only the last', async () => {
    // (a chaos run: the SMS account's limit refused by a demoted primary after the claim, the
    // claim let go here but not in Redis, the tries after it refused; then 12 SMS reported failed)
    expect(await here.begin('m')).toBeNull();
    failDeletes = 1;
    await expect(here.abandon('m')).rejects.toThrow(/send ledger \(abandon\)/);
    for (let i = 0; i < 3; i++) {
      next.set(key('m'), 'refused');
      await expect(here.begin('m')).rejects.toThrow(/send ledger \(begin\): READONLY/);
    }
    expect(await real.get(key('m'))).toMatch(/^sending\|/);
    expect(await here.begin('m')).toBeNull();
  });

  it('dead-letters on Redis refusing the command itself, and tries again on a failover or an outage', async () => {
    // a key of another type where the claim goes: the same command fails however often it is tried
    await real.hset(key('w'), 'f', 'v');
    const wrongType = await here.begin('w').catch((err: unknown) => err);
    expect(wrongType).toBeInstanceOf(PipelineError);
    expect(wrongType).toMatchObject({
      retriable: false,
      message: expect.stringMatching(/^send ledger \(read\): WRONGTYPE/),
    });
    next.set(key('x'), 'refused');
    await expect(here.begin('x')).rejects.toMatchObject({ retriable: true, code: 'DEPENDENCY_UNAVAILABLE' });
    next.set(key('x'), 'lost');
    await expect(here.begin('x')).rejects.toMatchObject({ retriable: true, code: 'DEPENDENCY_UNAVAILABLE' });
    expect(await here.begin('x')).toBeNull();
  });

  it('gives a replay the outcome with why it failed, and reads an outcome kept before descriptions were', async () => {
    expect(await here.begin('h')).toBeNull();
    await here.done('h', 'SMS_Failed', 'default:1F', 'submit_sm refused by default: status 0x58 | "throttled"');
    expect(await there.begin('h')).toEqual({
      state: 'done',
      status: 'SMS_Failed',
      reference: 'default:1F',
      description: 'submit_sm refused by default: status 0x58 | "throttled"',
    });
    await real.set(key('i'), 'done:SMS_Accepted|default:2A|2B', 'EX', 60);
    expect(await here.begin('i')).toEqual({
      state: 'done',
      status: 'SMS_Accepted',
      reference: 'default:2A|2B',
      description: null,
    });
  });

  it('takes a claim written before claims named their sender for a crash', async () => {
    await real.set(key('f'), 'sending', 'EX', 60);
    expect(await here.begin('f')).toEqual({ state: 'sending' });
  });
});
