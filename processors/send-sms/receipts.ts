import type { Redis } from 'ioredis';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { canonicalId, parseReceipt } from '../../platform/smpp/message.ts';
import type { Receipt } from '../../platform/smpp/client.ts';
import { orderStatus } from '../../platform/status.ts';

/**
 * Delivery receipts of submitted SMS, matched to their notifications (reference §6.2 step 13).
 *
 * On acceptance send-sms records every part's message id (canonical form: hex and decimal ids
 * compare equal) and the notification's parts in Redis. A receipt marks its part; when every
 * part has a receipt, the notification's status is published: Delivered only if every part was
 * DELIVRD, else the first failing part's state. A receipt for an id not recorded yet (it beat
 * the submit's bookkeeping) is kept for an hour and applied when the id is recorded.
 */
export interface SmsRef {
  notificationId: string;
  orderId: string;
  creator: string;
  destination: string;
  expiresAt: number;
}

const STATES: Record<string, StatusEvent['status']> = {
  DELIVRD: 'SMS_Delivered',
  EXPIRED: 'SMS_Failed_Expired',
  DELETED: 'SMS_Failed_Deleted',
  UNDELIV: 'SMS_Failed_Undelivered',
  REJECTD: 'SMS_Failed_Rejected',
  BARRED: 'SMS_Failed_BarredReceiver',
};

export const receiptStatus = (stat: string): StatusEvent['status'] => STATES[stat] ?? 'SMS_Failed';

export class ReceiptTracker {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly publish: (event: StatusEvent) => Promise<void>,
    private readonly clock: () => number = Date.now,
  ) {}

  private refKey = (id: string) => `${this.prefix}ref:${id}`;
  private partsKey = (notificationId: string) => `${this.prefix}parts:{${notificationId}}`;
  private earlyKey = (id: string) => `${this.prefix}early:${id}`;

  /** Records an accepted notification's part ids (as the SMSC returned them, hex). */
  async record(ref: SmsRef, messageIds: string[]): Promise<void> {
    const ids = messageIds.map((m) => canonicalId(m, 16));
    // kept at least as long as the SMSC may still report (the validity period), plus an hour
    const ttl = Math.max(this.ttlSeconds, Math.ceil((ref.expiresAt - Date.now()) / 1000) + 3600);
    const pipe = this.redis.multi();
    for (const id of ids) pipe.set(this.refKey(id), JSON.stringify(ref), 'EX', ttl);
    pipe.hset(this.partsKey(ref.notificationId), Object.fromEntries(ids.map((id) => [id, 'pending'])));
    pipe.expire(this.partsKey(ref.notificationId), ttl);
    await pipe.exec();
    for (const id of ids) {
      const early = await this.redis.get(this.earlyKey(id));
      if (early) await this.apply(id, ref, early);
    }
  }

  /** A deliver_sm receipt. Resolves once it is recorded (and published, when it completes one). */
  async onReceipt(r: Receipt): Promise<void> {
    const parsed = parseReceipt(r.text);
    const candidates = [
      ...(r.messageId ? [canonicalId(r.messageId, 16), canonicalId(r.messageId, 10)] : []),
      ...(parsed.id ? [canonicalId(parsed.id, 16), canonicalId(parsed.id, 10)] : []),
    ];
    const stat = parsed.stat ?? 'UNKNOWN';
    for (const id of new Set(candidates)) {
      const json = await this.redis.get(this.refKey(id));
      if (json) return this.apply(id, JSON.parse(json) as SmsRef, stat);
    }
    // Not recorded yet: keep it under every form the id may be recorded as.
    const pipe = this.redis.multi();
    for (const id of new Set(candidates)) pipe.set(this.earlyKey(id), stat, 'EX', 3600);
    await pipe.exec();
  }

  private async apply(partId: string, ref: SmsRef, stat: string): Promise<void> {
    const key = this.partsKey(ref.notificationId);
    await this.redis.hset(key, partId, stat);
    const parts = await this.redis.hgetall(key);
    const states = Object.entries(parts).filter(([k]) => !k.startsWith('_'));
    if (states.some(([, s]) => s === 'pending')) return;
    // every part has its receipt: publish, then flag it, so a receipt the SMSC delivers again
    // (we died before answering it) publishes again rather than never (a repeat is harmless)
    if ((await this.redis.hget(key, '_reported')) === '1') return;
    const failed = states.find(([, s]) => s !== 'DELIVRD');
    const status = failed ? receiptStatus(failed[1]) : 'SMS_Delivered';
    await this.publish({
      ...orderStatus({ orderId: ref.orderId, creator: ref.creator }, status, this.clock()),
      notificationId: ref.notificationId,
      channel: 'Sms',
      destination: ref.destination,
      gatewayReference: states.map(([id]) => id).join(','),
      expiresAt: ref.expiresAt,
      description: failed ? `receipt stat:${failed[1]}` : null,
    });
    await this.redis.hset(key, '_reported', '1');
  }
}
