import type { Request, Response } from 'express';
import type { Logger } from '../../platform/logger.ts';
import { PROBLEMS, sendProblem } from '../problems.ts';
import type { GiveBack, IdempotencyStore } from './idempotency.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** how long a takeover may spend learning whether the gone holder's records were written, ms */
export const TAKEOVER_READ_MS = 20_000;

/**
 * Whether a claim's gone holder wrote its records, as `read` tells within TAKEOVER_READ_MS. A
 * read that fails or takes longer answers no: the records are written again, and their ids
 * (derived from the idempotencyId) let those downstream take them once. A read that takes longer
 * is ended by the signal it was given, not left running.
 */
export async function writtenByGoneHolder(
  read: (signal: AbortSignal) => Promise<boolean>,
  log: Logger,
  what: string,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const reading = new AbortController();
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => {
      reading.abort(new Error(`the read of a taken-over ${what} took over ${TAKEOVER_READ_MS} ms`));
      resolve('late');
    }, TAKEOVER_READ_MS);
  });
  const known = read(reading.signal).catch((err: unknown) => {
    if (reading.signal.aborted) return false;
    log.warn({ err }, `could not learn whether a taken-over ${what} was written; writing it again`);
    return false;
  });
  try {
    const found = await Promise.race([known, late]);
    log.info(
      { written: found === true, ...(found === 'late' ? { readOverMs: TAKEOVER_READ_MS } : {}) },
      `${what} taken over from a holder that did not answer`,
    );
    return found === true;
  } finally {
    clearTimeout(timer);
  }
}

export interface ClaimDeps {
  idempotency: IdempotencyStore;
  clock: () => number;
  /** how long a request waits for another one holding the same key, ms */
  waitMs: number;
  log: Logger;
}

/**
 * A claim this request holds: its key, and the lease it set, by which what gives it back
 * touches it only while it is still this request's.
 */
export interface Held {
  creator: string;
  key: string;
  lease: number;
}

/**
 * The idempotent order flow around a key (an idempotencyId, or a v1 `Idempotency-Key`), per
 * creator: the first request claims the key with the records it will publish and the answer it
 * will give; a repeat is answered with that answer; a request that finds a claim whose holder
 * died takes it over and publishes the *stored* records.
 */
export class IdempotentRequests {
  constructor(private readonly d: ClaimDeps) {}

  /**
   * Claims `key` for this request, or answers for it: `replay` with the stored body when the key
   * is done; after taking over a claim whose request died, `republish` the stored records first;
   * 409 when another request still holds it past the wait. The claim, when this request holds
   * it and must go on (then finish it, or give it back: `release`, `lapse`); null when it was
   * answered.
   */
  async claimOrReplay(
    res: Response,
    creator: string,
    key: string,
    stored: string,
    body: unknown,
    republish: (stored: string) => Promise<() => Promise<void>>,
    replay: (res: Response, body: unknown) => void = (r, b) => void r.status(200).json(b),
  ): Promise<Held | null> {
    const deadline = this.d.clock() + this.d.waitMs;
    for (;;) {
      const claim = await this.d.idempotency.claim(creator, key, stored, body, this.d.clock());
      if (claim.kind === 'claimed') return { creator, key, lease: claim.lease };
      if (claim.kind === 'done') {
        replay(res, claim.body);
        return null;
      }
      if (claim.kind === 'takeover') {
        let after: () => Promise<void>;
        try {
          after = await republish(claim.records);
        } catch (err) {
          // taking over renewed the lease; end it, so a retry (on another gateway, perhaps)
          // takes over at once instead of waiting the lease out behind this one's failure
          await this.lapse({ creator, key, lease: claim.lease });
          throw err;
        }
        await this.finish({ creator, key, lease: claim.lease });
        await after();
        replay(res, claim.body);
        return null;
      }
      if (this.d.clock() > deadline) {
        res.setHeader('Retry-After', '1');
        sendProblem(res, {
          status: 409,
          title: 'Conflict',
          detail: 'An order with this idempotencyId is still being registered; retry shortly.',
        });
        return null;
      }
      await sleep(25);
    }
  }

  /**
   * Marks the key done with its answer, once its records are published: the order is taken, so
   * this never fails the request (a 503 would tell the client it was not, and its retry would
   * wait the lease out, answered 409, before it took the claim over). A finish Redis refuses is
   * logged and tried again in the background until the lease ends.
   */
  async finish(held: Held): Promise<void> {
    try {
      await this.d.idempotency.finish(held.creator, held.key);
    } catch (err) {
      this.d.log.warn({ err }, 'idempotency key not marked done after its order was published; trying again');
      this.d.idempotency.finishLater(held.creator, held.key);
    }
  }

  /**
   * Ends the claim's lease, keeping its records: for a write that may have been stored (its
   * outcome unknown), so that a retry writes the same records again (never fails).
   */
  lapse(held: Held): Promise<void> {
    return this.giveBack(held, 'lapse');
  }

  /** Drops a claim whose records were not published, so a retry starts afresh (never fails). */
  release(held: Held): Promise<void> {
    return this.giveBack(held, 'drop');
  }

  private giveBack(held: Held, how: GiveBack): Promise<void> {
    return this.d.idempotency.giveBack(held.creator, held.key, held.lease, how);
  }

  /**
   * The client hung up before its order was stored: stop there (nothing is published, the claim
   * is released, so a retry with the same key starts afresh) and answer 499 NOT-00002, for the
   * logs and metrics, as the reference does. Once stored, an order is finished and answered even
   * if no one is listening (a replay then gets 200).
   */
  async hungUp(req: Request, res: Response, held: Held | null): Promise<boolean> {
    if (!req.socket.destroyed) return false;
    if (held) await this.release(held);
    this.d.log.info({ path: req.path }, 'client hung up before the order was stored');
    sendProblem(res, PROBLEMS.requestTerminated);
    return true;
  }
}
