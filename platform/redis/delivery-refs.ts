import type { Redis } from 'ioredis';
import { inRedis } from './client.ts';

/**
 * What a provider's reference (an SMTP Message-ID, an SMSC message id) stands for, so a
 * delivery report that names only the reference can be turned into a status event of the right
 * order. Written by a sender when the provider accepts a message; kept `ttlSeconds`.
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

export class DeliveryRefs {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private key = (ref: string) => `${this.prefix}ref:${ref}`;

  async put(reference: string, ref: DeliveryRef): Promise<void> {
    await inRedis('delivery refs', () =>
      this.redis.set(this.key(reference), JSON.stringify(ref), 'EX', this.ttlSeconds),
    );
  }

  async get(reference: string): Promise<DeliveryRef | null> {
    const v = await inRedis('delivery refs', () => this.redis.get(this.key(reference)));
    return v ? (JSON.parse(v) as DeliveryRef) : null;
  }
}
