import type { Response } from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { IdempotentRequests } from '../../gateway/orders/claim.ts';
import { IdempotencyStore, packAnswer, unpackAnswer } from '../../gateway/orders/idempotency.ts';
import { chainIds } from '../../gateway/orders/map.ts';
import { createLogger } from '../../platform/logger.ts';
import { testRedis, uniquePrefix } from '../support/stack.ts';

/**
 * The idempotency claim when a gateway dies, or cannot write, between claim and answer (on the
 * stack's Redis). A request that finds a lapsed claim takes it over and writes the claimed
 * records; if that write fails, the claim's lease ends at once, so the next request (on another
 * gateway, perhaps) takes over without waiting the lease out: with a 30 s lease and clients that
 * alternate gateways, a gateway whose writes fail could otherwise win every takeover.
 */
describe('idempotent requests after a dead or failing holder', () => {
  const redis = testRedis();
  const prefix = uniquePrefix('idem');
  const LEASE_MS = 300;
  const store = new IdempotencyStore(redis, prefix, LEASE_MS, 60_000);
  const requests = new IdempotentRequests({
    idempotency: store,
    clock: Date.now,
    waitMs: 100,
    log: createLogger({ level: 'silent' }),
  });
  afterAll(() => redis.quit());

  /** enough of a Response for claimOrReplay: the status and body it was given */
  const response = () => {
    const r = { status: 0, body: undefined as unknown, headers: {} as Record<string, string> };
    const res = {
      status(n: number) {
        r.status = n;
        return res;
      },
      json(b: unknown) {
        r.body = b;
        return res;
      },
      setHeader(k: string, v: string) {
        r.headers[k] = v;
        return res;
      },
      type() {
        return res;
      },
      send(b: unknown) {
        r.body = b;
        return res;
      },
    };
    return { res: res as unknown as Response, r };
  };

  it('hands a claim whose takeover failed to the next request at once, with the records first claimed', async () => {
    const key = 'order-1';
    // the first holder claims, then dies without finishing
    const first = response();
    expect(
      await requests.claimOrReplay(first.res, 'ttd', key, 'records-1', { id: 1 }, () => Promise.reject()),
    ).toMatchObject({ key });
    await new Promise((r) => setTimeout(r, LEASE_MS + 50));

    // a retry takes over, but its write fails
    const failing = response();
    await expect(
      requests.claimOrReplay(failing.res, 'ttd', key, 'records-2', { id: 2 }, () =>
        Promise.reject(new Error('Kafka did not acknowledge')),
      ),
    ).rejects.toThrow('Kafka did not acknowledge');

    // the next retry, well inside the lease the takeover took, takes over again and succeeds
    const written: string[] = [];
    const next = response();
    const started = Date.now();
    expect(
      await requests.claimOrReplay(next.res, 'ttd', key, 'records-3', { id: 3 }, async (stored) => {
        written.push(stored);
        return async () => undefined;
      }),
    ).toBeNull();
    expect(Date.now() - started).toBeLessThan(LEASE_MS);
    expect(written).toEqual(['records-1']);
    expect(next.r).toMatchObject({ status: 200, body: { id: 1 } });

    // and the key is done: a later request gets the first answer
    const later = response();
    expect(
      await requests.claimOrReplay(later.res, 'ttd', key, 'records-4', { id: 4 }, () => Promise.reject()),
    ).toBeNull();
    expect(later.r).toMatchObject({ status: 200, body: { id: 1 } });
  });

  it('lets a request whose write may have been stored end its lease, keeping its records', async () => {
    const key = 'order-2';
    const holder = response();
    const held = await requests.claimOrReplay(holder.res, 'ttd', key, 'records-a', { id: 'a' }, () => Promise.reject());
    expect(held).toMatchObject({ creator: 'ttd', key });
    await requests.lapse(held!);
    const written: string[] = [];
    const retry = response();
    expect(
      await requests.claimOrReplay(retry.res, 'ttd', key, 'records-b', { id: 'b' }, async (stored) => {
        written.push(stored);
        return async () => undefined;
      }),
    ).toBeNull();
    expect(written).toEqual(['records-a']);
    expect(retry.r.body).toEqual({ id: 'a' });
    // a done key is not reopened by a late lapse
    await requests.lapse(held!);
    const again = response();
    expect(
      await requests.claimOrReplay(again.res, 'ttd', key, 'records-c', { id: 'c' }, () => Promise.reject()),
    ).toBeNull();
    expect(again.r.body).toEqual({ id: 'a' });
  });

  /**
   * A request gives its claim back (its lookup failed, its publish failed or its client hung up)
   * after its lease ran out and another request took the claim over: what it gives back is no
   * longer its own, and must be left alone. Dropped, a finished key would let a later request
   * claim it afresh and publish its own records under the same derived ids (an order replaced);
   * its lease ended, the taking-over request's claim would be taken over again while it writes.
   * A clock the test moves past the lease (a minute), so the taking-over request's lease holds.
   */
  describe('given back late', () => {
    let skew = 0;
    const late = new IdempotentRequests({
      idempotency: new IdempotencyStore(redis, prefix, 60_000, 600_000),
      clock: () => Date.now() + skew,
      waitMs: 100,
      log: createLogger({ level: 'silent' }),
    });
    const outlived = async (key: string) => {
      const held = await late.claimOrReplay(response().res, 'ttd', key, 'records-x', { id: 'x' }, () =>
        Promise.reject(),
      );
      expect(held).toMatchObject({ key });
      skew += 61_000;
      return held!;
    };

    it('leaves a key finished since as it is', async () => {
      const key = 'order-3';
      const slow = await outlived(key);
      // a retry takes the claim over and finishes it
      const retry = response();
      expect(
        await late.claimOrReplay(retry.res, 'ttd', key, 'records-y', { id: 'y' }, async () => async () => undefined),
      ).toBeNull();
      expect(retry.r.body).toEqual({ id: 'x' });
      // the slow request's publish fails at last: its give-back finds the key done, not its claim
      await late.release(slow);
      const after = response();
      expect(
        await late.claimOrReplay(after.res, 'ttd', key, 'records-z', { id: 'z' }, () => Promise.reject()),
      ).toBeNull();
      expect(after.r).toMatchObject({ status: 200, body: { id: 'x' } });
    });

    it('does not end the lease of a request that took the claim over since', async () => {
      const key = 'order-4';
      const slow = await outlived(key);
      // a retry takes the claim over, and is still writing when the test ends
      let tookOver!: () => void;
      const took = new Promise<void>((r) => (tookOver = r));
      void late.claimOrReplay(response().res, 'ttd', key, 'records-y', { id: 'y' }, () => {
        tookOver();
        return new Promise<never>(() => undefined);
      });
      await took;
      // the slow request learns its write's outcome is unknown, and lapses what it left
      await late.lapse(slow);
      // another retry finds the claim held (409 after the wait), not lapsed for it to take over
      const third = response();
      let republished = false;
      expect(
        await late.claimOrReplay(third.res, 'ttd', key, 'records-z', { id: 'z' }, async () => {
          republished = true;
          return async () => undefined;
        }),
      ).toBeNull();
      expect(republished).toBe(false);
      expect(third.r.status).toBe(409);
    });
  });
});

describe('an answer as the idempotency key keeps it', () => {
  it('names the ids derived from the key by short tokens, and gives the answer back as it was', () => {
    const ids = chainIds('ttd', 'key-1', 2);
    const other = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const answer = JSON.stringify({
      notificationOrderId: ids.chainId,
      notification: {
        shipmentId: ids.mainId,
        // a sender's text that looks like a token or names another id stays as it is
        sendersReference: `\u0001c \u0001r0; ${other}`,
        reminders: ids.reminderIds.map((shipmentId) => ({ shipmentId })),
      },
    });
    const packed = packAnswer(answer, 'ttd', 'key-1');
    expect(packed.length).toBeLessThan(answer.length - 4 * 30);
    for (const id of [ids.chainId, ids.mainId, ...ids.reminderIds]) expect(packed).not.toContain(id);
    expect(packed).toContain(other);
    expect(unpackAnswer(packed, 'ttd', 'key-1')).toBe(answer);
    // the opening every chain's answer has is one character: a plain answer, with '=' before
    // it, fits the 44 bytes Redis keeps in one allocation with the value's header
    expect(packed.startsWith('\u0002,"sendersReference"')).toBe(true);
    const plain = JSON.stringify({
      notificationOrderId: ids.chainId,
      notification: { shipmentId: ids.mainId, sendersReference: 'ref-2026-0042' },
    });
    expect(`=${packAnswer(plain, 'ttd', 'key-1')}`.length).toBeLessThanOrEqual(44);
    expect(unpackAnswer(packAnswer(plain, 'ttd', 'key-1'), 'ttd', 'key-1')).toBe(plain);
    // another key's ids are not its own: nothing is replaced
    expect(packAnswer(answer, 'ttd', 'key-2')).toBe(answer);
    expect(unpackAnswer('{"a":1}', 'ttd', 'key-1')).toBe('{"a":1}');
  });
});
