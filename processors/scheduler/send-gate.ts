import type { ReleaseGate } from '../runtime/releaser.ts';

export interface SendGateOptions {
  /** the channel's fair-share rate, notifications/s: the most the gate lets go, on average */
  perSecond: number;
  /** how many notifications may wait for the channel's senders before the gate holds paced work back */
  bound: number;
  /** how many notifications wait for the channel's senders now (their queue's consumer lag) */
  backlog: () => Promise<number>;
  /** how often the backlog is read, ms */
  refreshMs?: number;
  /** a reading older than this (the read keeps failing) holds paced work back, ms */
  staleMs?: number;
  /** told each reading (a metric) */
  read?: (backlog: number) => void;
  /** told of a failed read (once, until a read succeeds again) */
  failed?: (err: unknown) => void;
}

/**
 * The gate of a channel's paced lane (`ReleaseGate`): paced orders go no faster than the
 * channel's fair-share rate (a token bucket holding at most a quarter of a second of it, let go
 * in chunks of a tenth of a second of it, so a release transaction carries several orders), and
 * not at all while the channel's senders have `bound` notifications or more still to take.
 *
 * This closes the loop the pace alone leaves open: the pace assumes the senders take the
 * configured rate, but a slow SMSC, a loaded machine or a stopped sender takes less, and paced
 * work released on time regardless would pile up in the send queue, where another creator's few
 * orders queue behind it. With the gate, what waits ahead of them in the queue stays near
 * `bound` plus what is on its way through the chain, and the rest waits in the schedule, where
 * it can still be cancelled. Only the releaser's leader asks it; the reading is refreshed in the
 * background, at most every `refreshMs`.
 */
export class SendGate implements ReleaseGate {
  private tokens = 0;
  private last: number | null = null;
  private backlog: number | null = null;
  private readAt = -Infinity;
  private reading = false;
  private failing = false;

  constructor(private readonly o: SendGateOptions) {}

  budget(now: number): number {
    this.refresh(now);
    const cap = this.o.perSecond / 4;
    this.tokens = Math.min(
      cap,
      this.tokens + (this.last === null ? cap : ((now - this.last) * this.o.perSecond) / 1000),
    );
    this.last = now;
    if (this.backlog === null || now - this.readAt > (this.o.staleMs ?? 5_000)) return 0;
    if (this.backlog >= this.o.bound) return 0;
    // in chunks of a tenth of a second of the rate (each release is a Kafka transaction)
    if (this.tokens < Math.min(cap, Math.max(1, this.o.perSecond / 10))) return 0;
    return Math.floor(this.tokens);
  }

  spent(cost: number): void {
    this.tokens -= cost;
  }

  /** Reads the backlog again unless a read is under way or the last is recent. */
  private refresh(now: number): void {
    if (this.reading || now - this.readAt < (this.o.refreshMs ?? 250)) return;
    this.reading = true;
    this.o
      .backlog()
      .then((n) => {
        this.backlog = n;
        this.readAt = now;
        this.failing = false;
        this.o.read?.(n);
      })
      .catch((err: unknown) => {
        if (!this.failing) this.o.failed?.(err);
        this.failing = true;
      })
      .finally(() => (this.reading = false));
  }
}
