import { randomUUID } from 'node:crypto';
import type { Redis } from './client.ts';
import { inRedis } from './client.ts';
import { defineScripts } from './lua.ts';

/** What a sender holds while a request to its provider is under way. */
export interface Permit {
  release(): void;
}

/** Paces and bounds the requests to one provider account. */
export interface AccountLimit {
  /** Resolves when a request may start (the caller then holds a window place until release). */
  acquire(): Promise<Permit>;
}

export interface AccountLimitOptions {
  /** requests started per second, across every instance (spaced evenly: no bursts) */
  perSecond: number;
  /** requests under way at once, across every instance (0: no bound) */
  window: number;
  /** how long a window place is held at most, ms: a holder that died frees it after this */
  leaseMs: number;
  /**
   * without a window, the most start slots booked at once (default: about 50 ms worth). Slots
   * booked and not used hold the account's timeline for everyone else until they pass: a sender
   * that sends one now and then (an instant lane) books one at a time
   */
  maxBlock?: number;
}

/** How long a waiter for a full window sleeps before it asks again at most, ms. */
const WINDOW_POLL_MS = 5;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The limits a provider account sets (an SMSC's TPS and window, an SMTP provider's rate), shared
 * by every instance of a sender through Redis, on Redis's clock. Start slots are booked ahead
 * (a sender pacing 100/s books a slot and waits for it, as it would alone); window places are
 * leases, so the places of an instance that was killed come back after `leaseMs`. Without a
 * window, slots are booked in blocks of about 50 ms worth, so a fast sender asks Redis about
 * twenty times a second rather than once per message. Within a process, callers are served
 * first come, first served.
 */
export class SharedAccountLimit implements AccountLimit {
  private readonly redis;
  private readonly holderPrefix = randomUUID();
  private seq = 0;
  private readonly intervalUs: number;
  private readonly block: number;
  /** the block of slots booked last: its first slot's time (ms, local clock), and the next unused */
  private blockAt = 0;
  private blockNext = 0;
  private blockEnd = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    redis: Redis,
    /** e.g. `<prefix>limits:smpp:` (the two keys share a hash tag) */
    private readonly keyPrefix: string,
    private readonly o: AccountLimitOptions,
  ) {
    this.redis = defineScripts(redis, { limitAcquire: 'limits/acquire.lua' });
    this.intervalUs = Math.max(1, Math.round(1_000_000 / o.perSecond));
    this.block = o.window > 0 ? 1 : Math.max(1, Math.min(o.maxBlock ?? Infinity, Math.ceil(o.perSecond / 20)));
  }

  private get keys(): [string, string] {
    const tag = `{${this.keyPrefix}}`;
    return [`${tag}window`, `${tag}next`];
  }

  async acquire(): Promise<Permit> {
    // Bookings are made one at a time (first come, first served); the waits for their slots
    // run side by side.
    const turn = this.queue.then(() => this.book());
    this.queue = turn.catch(() => undefined);
    const { at, permit } = await turn;
    await this.until(at);
    return permit;
  }

  private async book(): Promise<{ at: number; permit: Permit }> {
    const none = { release: () => undefined };
    if (this.o.window === 0 && this.blockNext < this.blockEnd) {
      // a booked slot whose time has passed unused is gone: using it late would crowd the slots
      // other instances hold now (slot i of the block is at blockAt + i × interval)
      const intervalMs = this.intervalUs / 1000;
      const late = Math.floor((Date.now() - 1 - this.blockAt) / intervalMs) + 1;
      this.blockNext = Math.max(this.blockNext, Math.min(this.blockEnd, late));
      if (this.blockNext < this.blockEnd) return { at: this.blockAt + this.blockNext++ * intervalMs, permit: none };
    }
    const holder = `${this.holderPrefix}:${++this.seq}`;
    const [key, next] = this.keys;
    for (;;) {
      const [ok, waitUs] = (await inRedis('account limit', () =>
        this.redis.limitAcquire(key, next, holder, this.o.window, this.o.leaseMs * 1000, this.intervalUs, this.block),
      )) as [number, number];
      if (ok === 1) {
        const at = Date.now() + waitUs / 1000;
        if (this.o.window > 0) return { at, permit: this.permit(holder) };
        this.blockAt = at;
        this.blockNext = 1;
        this.blockEnd = this.block;
        return { at, permit: none };
      }
      await sleep(Math.max(1, Math.min(WINDOW_POLL_MS, waitUs / 1000)));
    }
  }

  private async until(at: number): Promise<void> {
    const wait = at - Date.now();
    if (wait > 0) await sleep(wait);
  }

  private permit(holder: string): Permit {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        // A place not given back (Redis unreachable) comes back when its lease lapses.
        this.redis.zrem(this.keys[0], holder).catch(() => undefined);
      },
    };
  }
}

/** The same limits for one process alone (tests and benchmarks without Redis). */
export class LocalAccountLimit implements AccountLimit {
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  private next = 0;

  constructor(private readonly o: Pick<AccountLimitOptions, 'perSecond' | 'window'>) {}

  async acquire(): Promise<Permit> {
    if (this.o.window > 0) while (this.inFlight >= this.o.window) await new Promise<void>((r) => this.waiters.push(r));
    this.inFlight++;
    const now = Date.now();
    const at = Math.max(now, this.next);
    this.next = at + 1000 / this.o.perSecond;
    if (at > now) await sleep(at - now);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.waiters.shift()?.();
      },
    };
  }
}

/** A limit without a window as a pacing function (await it before each request). */
export function limitThrottle(limit: AccountLimit): () => Promise<void> {
  return async () => {
    (await limit.acquire()).release();
  };
}
