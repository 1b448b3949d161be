import { afterAll, describe, expect, it } from 'vitest';
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
