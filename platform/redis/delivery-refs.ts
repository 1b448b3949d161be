import type { Redis } from 'ioredis';
import { inRedis } from './client.ts';
import type { ReplicaWait } from './replica-wait.ts';
import { RECORD_RETRY, recordPersistently } from './send-ledger.ts';

/**
 * What a provider's reference (an SMTP Message-ID, an SMSC message id) stands for, so a
 * delivery report that names only the reference can be turned into a status event of the right
 * order. Written by a sender when the provider accepts a message; kept `ttlSeconds`, or until
 * its final report is in.
 */
export interface DeliveryRef {
  notificationId: string;
  orderId: string;
  creator: string;
  destination: string;
  expiresAt: number | null;
  /** the notification's requested send time, for the delivery latency (absent on older refs) */
  requestedSendTime?: number;
}

/** What a reference whose final report is in is kept as. */
const REPORTED = '!';
/** How long that mark is kept: Event Grid retries a delivery for 24 hours. */
const REPORTED_SECONDS = 24 * 3600;

export class DeliveryRefs {
  /** where refs are put: with `replicas`, its connection (a WAIT covers only its own connection's writes) */
  private readonly writes: Redis;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    /** how a reference just accepted is tried again while Redis is unavailable (`put`) */
    private readonly recordRetry = RECORD_RETRY,
    /**
     * with REDIS_WAIT_REPLICAS: `put` resolves once Redis's replicas hold the ref, so a failover
     * cannot lose the ref of a notification reported handed over (its delivery report would find
     * nothing, and the notification end Failed_TTL though delivered)
     */
    private readonly replicas?: ReplicaWait,
  ) {
    this.writes = replicas?.connection ?? redis;
  }

  private key = (ref: string) => `${this.prefix}ref:${ref}`;

  /**
   * Kept `ttlSeconds`, but no longer than a day past the notification's expiry: by then its
   * expiry check has reported it Failed_TTL, a final status a later report could not change.
   * Written right after the provider accepted the message, so, like the send ledger's outcome,
   * through a Redis outage (`recordRetry`): a replay would not write it again.
   */
  async put(reference: string, ref: DeliveryRef, now = Date.now()): Promise<void> {
    const seconds =
      ref.expiresAt === null
        ? this.ttlSeconds
        : Math.max(3600, Math.min(this.ttlSeconds, Math.ceil((ref.expiresAt - now) / 1000) + REPORTED_SECONDS));
    await recordPersistently(async () => {
      // (NX: a replay puts the ref again, and one there already, maybe marked reported since, stays)
      await inRedis('delivery refs', () =>
        this.writes.set(this.key(reference), JSON.stringify(ref), 'EX', seconds, 'NX'),
      );
      // (too few replicas in time: put again, as after a failed write)
      if (this.replicas) await this.replicas.hold('the delivery ref');
    }, this.recordRetry);
  }

  /** The reference's notification; 'reported' once its final report is in (see `reported`); null if unknown. */
  async get(reference: string): Promise<DeliveryRef | 'reported' | null> {
    const v = await inRedis('delivery refs', () => this.redis.get(this.key(reference)));
    if (!v) return null;
    return v === REPORTED ? 'reported' : (JSON.parse(v) as DeliveryRef);
  }

  /**
   * The reference's final report is published: it is kept as a bare mark for `reportedSeconds`
   * (a provider's retries of the same report are answered, not refused), then forgotten. The full
   * ref was most of what an email left in Redis, kept for weeks after its report.
   */
  async reported(reference: string, reportedSeconds = REPORTED_SECONDS): Promise<void> {
    await inRedis('delivery refs', () => this.redis.set(this.key(reference), REPORTED, 'EX', reportedSeconds));
  }
}
