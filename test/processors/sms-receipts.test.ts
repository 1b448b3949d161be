import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { ReceiptTracker, type SmsRef } from '../../processors/send-sms/receipts.ts';
import { uniquePrefix, testRedis } from '../support/stack.ts';

/**
 * A delivery receipt can reach send-sms (this instance or another) while the submit it answers is
 * still being recorded. Whatever the interleaving, the receipt must be applied exactly once: the
 * receipt either finds the recorded submit, or the recording finds the parked receipt.
 */
describe('SMS receipts racing their submit’s bookkeeping', () => {
  let redis: Redis;
  let other: Redis;
  beforeAll(() => {
    redis = testRedis();
    other = testRedis();
  });
  afterAll(async () => {
    redis.disconnect();
    other.disconnect();
  });

  const text = (id: string, stat = 'DELIVRD') =>
    `id:${id} sub:001 dlvrd:001 submit date:2611300900 done date:2611300900 stat:${stat} err:000 text:`;

  it('applies every receipt once, however it interleaves with the recording (one connection or two)', async () => {
    const prefix = `${uniquePrefix('receipts')}sms-`;
    const published: StatusEvent[] = [];
    const publish = async (e: StatusEvent) => void published.push(e);
    // the submitting instance and another instance whose session got the receipt
    const submitting = new ReceiptTracker(redis, prefix, 3600, publish);
    const elsewhere = new ReceiptTracker(other, prefix, 3600, publish);
    const runs = 200;
    const ticks = (n: number) =>
      Array.from({ length: n }).reduce<Promise<void>>(
        (p) => p.then(() => new Promise((r) => setImmediate(r))),
        Promise.resolve(),
      );
    await Promise.all(
      Array.from({ length: runs }, async (_, i) => {
        const id = (0x1000000 + i).toString(16);
        const ref: SmsRef = {
          notificationId: `n-${i}`,
          orderId: `o-${i}`,
          creator: 'ttd',
          destination: '+4799999999',
          expiresAt: Date.now() + 3_600_000,
        };
        const receiver = i % 2 === 0 ? submitting : elsewhere;
        const lag = i % 4;
        // the receipt first (decimal-formatted ids too), then the recording a few ticks later, or the reverse
        const receipt = () =>
          receiver.onReceipt({
            messageId: i % 3 === 0 ? null : id,
            text: text(i % 5 === 0 ? String(0x1000000 + i) : id),
          });
        const record = () => submitting.record(ref, [id]);
        if (i % 8 < 4) await Promise.all([receipt(), ticks(lag).then(record)]);
        else await Promise.all([record(), ticks(lag).then(receipt)]);
      }),
    );
    const per = new Map<string, number>();
    for (const e of published) per.set(e.notificationId!, (per.get(e.notificationId!) ?? 0) + 1);
    const missing = Array.from({ length: runs }, (_, i) => `n-${i}`).filter((n) => !per.has(n));
    expect(missing).toEqual([]);
    expect(published.every((e) => e.status === 'SMS_Delivered')).toBe(true);
  });
});
