import type { Redis } from './client.ts';
import { inRedis } from './client.ts';
import { defineScripts } from './lua.ts';

/** One piece of work to pace: `cost` notifications of `creator` on a channel, due at `at` (ms). */
export interface PaceItem {
  creator: string;
  channel: 'email' | 'sms';
  cost: number;
  at: number;
}

export interface FairShareOptions {
  /** notifications per second the paced creators of each channel share; 0: the channel is not paced */
  perSecond: { email: number; sms: number };
  /** how much a creator may place at once unpaced, in seconds of its share */
  burstSeconds: number;
  /** creators' weights (default 1) */
  weights: Readonly<Record<string, number>>;
  /** told of each item held past its `at`: its channel, cost and how long, ms (for metrics) */
  held?: (channel: 'email' | 'sms', cost: number, ms: number) => void;
}

/**
 * Weighted fair share of the senders' rate between creators, shared by every scheduler instance
 * through Redis (one hash per channel, on Redis's clock): a creator that places more than its
 * burst at once is paced to its share of the channel's rate, its share being its weight over
 * the sum of the weights of the creators paced at that moment. A creator under its burst goes at
 * once. It is GCRA (the generic cell rate algorithm) per creator, whose rate is set at each
 * booking from the creators paced then: work already booked keeps the pace it was booked at.
 */
export class FairShare {
  private readonly redis;

  constructor(
    redis: Redis,
    /**
     * e.g. `<prefix>fair:`: each channel's hash gets a hash tag of its own, `{<prefix>fair:sms}`,
     * beside it the buckets of work booked ahead (`…:ahead`) and the cursor that prunes them
     */
    private readonly keyPrefix: string,
    private readonly o: FairShareOptions,
  ) {
    this.redis = defineScripts(redis, { fairPace: 'fair/pace.lua' });
  }

  /** whether work on `channel` is paced at all */
  paces(channel: 'email' | 'sms'): boolean {
    return this.o.perSecond[channel] > 0;
  }

  /**
   * When each item may go (ms since epoch on `now`'s clock): its own `at`, or, when its creator
   * is over its share, a later time (after `now`). One round trip per channel.
   */
  async pace(items: readonly PaceItem[], now: number): Promise<number[]> {
    const out = items.map((i) => i.at);
    for (const channel of ['email', 'sms'] as const) {
      const rate = this.o.perSecond[channel];
      const idx = items.flatMap((item, i) => (item.channel === channel && item.cost > 0 && rate > 0 ? [i] : []));
      if (idx.length === 0) continue;
      const args: (string | number)[] = [rate, Math.round(this.o.burstSeconds * 1000), now];
      for (const i of idx) {
        const item = items[i]!;
        args.push(item.creator, this.o.weights[item.creator] ?? 1, item.cost, item.at);
      }
      const key = `{${this.keyPrefix}${channel}}`;
      const waits = (await inRedis('fair share', () =>
        this.redis.fairPace(key, `${key}:ahead`, `${key}:ahead-cursor`, ...args),
      )) as number[];
      idx.forEach((i, k) => {
        const item = items[i]!;
        // held only when its pace puts it later than it could go anyway (an item whose send
        // time has passed goes now, and keeps that time)
        const go = now + Number(waits[k]);
        if (go <= Math.max(item.at, now)) return;
        out[i] = Math.max(out[i]!, go);
        this.o.held?.(channel, item.cost, go - Math.max(item.at, now));
      });
    }
    return out;
  }
}
