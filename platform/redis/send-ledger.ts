import type { Redis } from 'ioredis';
import { retriable } from '../errors.ts';

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
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
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
    const set = await this.run('begin', () => this.redis.set(this.key(id), 'sending', 'EX', this.ttlSeconds, 'NX'));
    if (set === 'OK') return null;
    const v = await this.run('read', () => this.redis.get(this.key(id)));
    if (v === null) return this.begin(id);
    if (!v.startsWith('done:')) return { state: 'sending' };
    const [status, ...rest] = v.slice(5).split('|');
    return { state: 'done', status: status!, reference: rest.join('|') };
  }

  async done(id: string, status: string, reference = ''): Promise<void> {
    await this.run('done', () => this.redis.set(this.key(id), `done:${status}|${reference}`, 'EX', this.ttlSeconds));
  }

  /** The hand-over certainly did not happen (the server refused before taking the message). */
  async abandon(id: string): Promise<void> {
    await this.run('abandon', () => this.redis.del(this.key(id)));
  }
}
