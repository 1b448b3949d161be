import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailChain, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { overriding } from '../support/overriding.ts';
import { eventually } from '../support/stack.ts';

/**
 * Once an order's records are published it is taken: the idempotency key's finish (its answer
 * kept for replays) failing after that, Redis away for a moment, must not answer 503, which tells
 * the client it was not taken, and leave the key claimed, its retry answered 409 until the lease
 * runs out and then taking the claim over. The order is answered as taken, and the key is marked
 * done in the background as soon as Redis answers.
 */
describe('an order whose idempotency key cannot be marked done', () => {
  let g: TestGateway;
  /** finishes to refuse, as Redis away would */
  let refusals = 0;
  /** what the store says is waiting to be tried again, when the test says so */
  let waiting: number | null = null;
  beforeAll(async () => {
    g = await startTestGateway('finish-failure', {
      idempotency: (store) =>
        overriding(store, (prop) =>
          prop === 'finish' && refusals > 0
            ? () => (refusals--, Promise.reject(new Error('Redis is away')))
            : prop === 'waiting' && waiting !== null
              ? waiting
              : undefined,
        ),
    });
  });
  afterAll(() => g?.close());

  /** the key's stored value: `=` and the answer once done, a pending claim's JSON before */
  const stored = async (creator: string, key: string) =>
    (await g.redis.get(`${g.prefix}idem:${creator}:${Buffer.from(key).toString('base64url')}`)) ?? '';

  it('answers an order chain 201, and its retry 200 from the key, marked done in the background', async () => {
    refusals = 1;
    const first = await g.call('POST', '/future/orders', emailChain('finish-failure-chain'));
    expect(first.status).toBe(201);
    expect(refusals).toBe(0);
    // (the overriding refuses only the gateway's calls: the store's own retry reaches Redis)
    await eventually(async () => (await stored('ttd', 'finish-failure-chain')).startsWith('='), 'the key marked done');
    const again = await g.call('POST', '/future/orders', emailChain('finish-failure-chain'));
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  it('answers a v1 order with an Idempotency-Key 202 likewise', async () => {
    refusals = 1;
    const order = { recipients: [{ emailAddress: 'kari@example.com' }], subject: 'Hei', body: 'Hallo' };
    const headers = { 'idempotency-key': 'finish-failure-v1' };
    const first = await g.call('POST', '/orders/email', order, { headers });
    expect(first.status).toBe(202);
    expect(refusals).toBe(0);
    await eventually(async () => (await stored('ttd', 'v1\nfinish-failure-v1')).startsWith('='), 'the key marked done');
    const again = await g.call('POST', '/orders/email', order, { headers });
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
  });

  it('shows what waits to be tried again in /metrics', async () => {
    const gauge = async () =>
      /^gateway_idempotency_retrying (\d+)$/m.exec(await (await fetch(`${g.root}/metrics`)).text())?.[1];
    await eventually(async () => (await gauge()) === '0', 'nothing waiting');
    waiting = 3;
    expect(await gauge()).toBe('3');
    waiting = null;
  });
});
