import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, type Redis } from '../../platform/redis/client.ts';
import { DeliveryRefs, type DeliveryRef } from '../../platform/redis/delivery-refs.ts';
import { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { LocalAccountLimit, limitThrottle } from '../../platform/redis/account-limits.ts';
import { SendLedger } from '../../platform/redis/send-ledger.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import type { RecordContext } from '../../processors/runtime/stage.ts';
import { sendEmailStage } from '../../processors/send-email/stage.ts';
import { ReceiptTracker } from '../../processors/send-sms/receipts.ts';
import type { Mailer } from '../../platform/smtp/mailer.ts';
import { replicatedPair } from '../support/redis-server.ts';
import { sampleEmail, testRedis, uniquePrefix } from '../support/stack.ts';

const quiet = createLogger({ level: 'silent', name: 'redis' });

/**
 * A delivery reference (an SMTP Message-ID, an SMS part's message id, and what it stands for) is
 * what a delivery report is matched by. Lost with a failover after the notification was reported
 * handed over, its report finds nothing, and the notification ends Failed_TTL though delivered.
 * With REDIS_WAIT_REPLICAS a ref is put, and an SMS's parts recorded, only once the replicas
 * hold them (so the record is committed only then). A primary and its replica of the test's own:
 * the replica dies, refs are put meanwhile, the primary dies, and the replica comes back from its
 * file and is promoted (REPLICAOF NO ONE, as a failover does).
 */
describe('delivery references across a Redis failover', async () => {
  const { replica, primary, client, start, failOver } = await replicatedPair((url) => createRedis({ url }, quiet));
  const config = loadConfig({ ...process.env, REDIS_WAIT_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '300' });
  const waitOn = (writes: Redis) =>
    new ReplicaWait(writes, config.REDIS_WAIT_REPLICAS, config.REDIS_REPLICA_WAIT_MS, 'send ledger');
  const refs = (redis: Redis, writes?: Redis) =>
    new DeliveryRefs(redis, 'refs-replicas:', 3600, { maxAttempts: 1 }, writes && waitOn(writes));
  const published: StatusEvent[] = [];
  const tracker = (redis: Redis, writes?: Redis) =>
    new ReceiptTracker(
      redis,
      'receipts-replicas:',
      3600,
      async (e) => void published.push(e),
      Date.now,
      undefined,
      16,
      undefined,
      writes && waitOn(writes),
    );
  const ref = (n: number): DeliveryRef & { expiresAt: number } => ({
    notificationId: `00000000-0000-4000-8000-00000000000${n}`,
    orderId: '00000000-0000-4000-8000-000000000000',
    creator: 'ttd',
    destination: '+4799999999',
    expiresAt: Date.now() + 3_600_000,
  });
  const receipt = (id: string) => ({ messageId: id, text: `id:${id} sub:001 dlvrd:001 stat:DELIVRD err:000` });

  it('puts a ref, records an SMS’s parts and acknowledges its receipts only once a replica holds them, so the promoted replica still matches their reports', async () => {
    await start();
    const [careful, careless] = [refs(client(primary.socket), client(primary.socket)), refs(client(primary.socket))];
    const [sms, smsCareless] = [
      tracker(client(primary.socket), client(primary.socket)),
      tracker(client(primary.socket)),
    ];
    await careful.put('<kept@sink>', ref(1));
    await sms.record(ref(1), ['a1']);
    // a receipt that beat its submit's recording, parked; one of a two-part SMS's two receipts
    await sms.onReceipt(receipt('b1'));
    await sms.record(ref(4), ['c1', 'c2']);
    await sms.onReceipt(receipt('c1'));

    await replica.kill();
    await careless.put('<lost@sink>', ref(2));
    await smsCareless.record(ref(2), ['a2']);
    await expect(careful.put('<unsure@sink>', ref(3))).rejects.toMatchObject({
      retriable: true,
      message: 'send ledger (replicas): the delivery ref reached 0 of 1 replicas in 300 ms',
    });
    await expect(sms.record(ref(3), ['a3'])).rejects.toMatchObject({
      retriable: true,
      message: 'send ledger (replicas): the parts reached 0 of 1 replicas in 300 ms',
    });
    // a receipt is acknowledged once its promise resolves: parked without the wait, it is gone
    // with the primary and the SMSC does not send it again; with it, it is left unacknowledged
    await smsCareless.onReceipt(receipt('b2'));
    await expect(sms.onReceipt(receipt('b3'))).rejects.toMatchObject({
      retriable: true,
      message: 'send ledger (replicas): the receipt reached 0 of 1 replicas in 300 ms',
    });

    const promoted = await failOver();
    const after = refs(promoted);
    expect(await after.get('<kept@sink>')).toMatchObject({ notificationId: ref(1).notificationId });
    // put without the wait: gone, and its report would match nothing
    expect(await after.get('<lost@sink>')).toBeNull();
    const smsAfter = tracker(promoted);
    await smsAfter.onReceipt(receipt('a1'));
    await smsAfter.onReceipt(receipt('a2'));
    // the parked receipt is still there for its submit's recording, and the first part's mark
    // for the second part's receipt; the one parked without the wait is not
    await smsAfter.record(ref(5), ['b1']);
    await smsAfter.record(ref(6), ['b2']);
    await smsAfter.onReceipt(receipt('c2'));
    expect(published.map((e) => [e.notificationId, e.status])).toEqual([
      [ref(1).notificationId, 'SMS_Delivered'],
      [ref(5).notificationId, 'SMS_Delivered'],
      [ref(4).notificationId, 'SMS_Delivered'],
    ]);
  });
});

/**
 * The replay of an accepted email (the ledger holds its outcome) puts its delivery ref again: the
 * sender may have failed between the outcome and the ref, or the ref's wait for the replicas ran
 * out and the record was tried again.
 */
describe('send-email replaying an accepted email', () => {
  it('puts its delivery ref again', async () => {
    const redis = testRedis();
    try {
      const prefix = uniquePrefix('email-replay');
      const ledger = new SendLedger(redis, `${prefix}email-`, 3600);
      const deliveryRefs = new DeliveryRefs(redis, `${prefix}email-`, 3600);
      const stage = sendEmailStage({
        mailer: { send: () => Promise.reject(new Error('never handed over again')) } as unknown as Mailer,
        ledger,
        refs: deliveryRefs,
        throttle: limitThrottle(new LocalAccountLimit({ perSecond: 1_000, window: 0 })),
        clock: Date.now,
      });
      const n = sampleEmail('ola@example.com');
      expect(await ledger.begin(n.notificationId)).toBeNull();
      await ledger.done(n.notificationId, 'Email_Succeeded', '<first@sink>');
      expect(await deliveryRefs.get('<first@sink>')).toBeNull();

      const ctx = { logger: quiet, headers: {}, attempt: 1, timestamp: Date.now() } as unknown as RecordContext;
      const outcome = await stage.handle(n, ctx);
      expect(JSON.stringify(outcome)).toContain('Email_Succeeded');
      expect(await deliveryRefs.get('<first@sink>')).toMatchObject({
        notificationId: n.notificationId,
        destination: 'ola@example.com',
      });
      // its report in, a later replay leaves the mark: the report is not matched twice
      await deliveryRefs.reported('<first@sink>');
      await stage.handle(n, ctx);
      expect(await deliveryRefs.get('<first@sink>')).toBe('reported');
    } finally {
      redis.disconnect();
    }
  });
});
