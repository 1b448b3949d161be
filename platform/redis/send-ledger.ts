import type { Redis } from 'ioredis';
import { PipelineError, retriable } from '../errors.ts';
import { withRetry, type BackoffOptions } from '../retry.ts';

/**
 * How long an outcome already known is tried to be recorded through a Redis outage (about 30 s:
 * a restart, a failover) before the sender gives up and its replay reports the notification
 * failed. Without it, every hand-over under way when Redis restarted was reported failed though
 * the server had answered (ioredis gives up on a command after three reconnection attempts).
 */
export const RECORD_RETRY: Partial<BackoffOptions> & { maxAttempts: number } = {
  initialMs: 200,
  maxMs: 5_000,
  factor: 2,
  maxAttempts: 10,
};

/** `write`, tried again while Redis is unavailable (`RECORD_RETRY`), never on Redis refusing it. */
export function recordPersistently<T>(
  write: () => Promise<T>,
  policy: Partial<BackoffOptions> & { maxAttempts: number } = RECORD_RETRY,
): Promise<T> {
  return withRetry(() => write(), {
    ...policy,
    shouldRetry: (err) => !(err instanceof PipelineError) || err.retriable,
  });
}

/**
 * At most one hand-over per notification: a sender marks a notification in Redis (fsync'd)
 * before it hands it to SMTP or SMPP, and records the outcome (the status it reported) after. A
 * replay after a crash finds the mark and does not hand the notification over again: `done`
 * gives back the status and reference to report again; `sending` means a crash during the
 * hand-over, whose outcome is unknown.
 * Marks expire after `ttlSeconds` (longer than any notification's life).
 */
export type LedgerEntry = { state: 'sending' } | { state: 'done'; status: string; reference: string };

export class SendLedger {
  /** outcomes being written (tried again while Redis is unavailable) */
  private readonly recording = new Set<Promise<unknown>>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    /** how a known outcome is tried again while Redis is unavailable (`done`) */
    private readonly recordRetry = RECORD_RETRY,
  ) {}

  private key = (id: string) => `${this.prefix}ledger:${id}`;

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw retriable('DEPENDENCY_UNAVAILABLE', `send ledger (${what}): ${(err as Error).message}`, err);
    }
  }

  /** Marks the notification as being handed over; returns the existing entry if there is one. */
  async begin(id: string): Promise<LedgerEntry | null> {
    // A sender gives a hand-over's place back once its outcome's write is issued, not answered
    // (senderStage). The outcomes issued before this claim are answered before it, on the same
    // connection; one that failed is being tried again, and until it is recorded (or given up)
    // this claim's hand-over does not start: what a crash can leave in doubt stays within the
    // places, through a Redis outage too. (Normally they are settled already: no wait.)
    const before = this.recording.size > 0 ? [...this.recording] : [];
    const set = await this.run('begin', () => this.redis.set(this.key(id), 'sending', 'EX', this.ttlSeconds, 'NX'));
    if (before.length > 0) await Promise.allSettled(before);
    if (set === 'OK') return null;
    const v = await this.run('read', () => this.redis.get(this.key(id)));
    if (v === null) return this.begin(id);
    if (!v.startsWith('done:')) return { state: 'sending' };
    const [status, ...rest] = v.slice(5).split('|');
    return { state: 'done', status: status!, reference: rest.join('|') };
  }

  /**
   * Records the outcome of a hand-over (the status it is reported with). The outcome is known
   * only in this process's memory, so a Redis outage is waited out (`recordRetry`) rather than
   * turned into a replay that must report it failed.
   */
  async done(id: string, status: string, reference = ''): Promise<void> {
    // (the first write is issued before this returns: see begin)
    const write = recordPersistently(
      () => this.run('done', () => this.redis.set(this.key(id), `done:${status}|${reference}`, 'EX', this.ttlSeconds)),
      this.recordRetry,
    );
    this.recording.add(write);
    try {
      await write;
    } finally {
      this.recording.delete(write);
    }
  }

  /** The hand-over certainly did not happen (the server refused before taking the message). */
  async abandon(id: string): Promise<void> {
    await this.run('abandon', () => this.redis.del(this.key(id)));
  }
}
