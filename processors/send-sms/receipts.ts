import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { retriable } from '../../platform/errors.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { canonicalId, parseReceipt } from '../../platform/smpp/message.ts';
import type { Receipt } from '../../platform/smpp/client.ts';
import { inRedis } from '../../platform/redis/client.ts';
import { defineScripts } from '../../platform/redis/lua.ts';
import type { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { orderStatus } from '../../platform/status.ts';
import { DEFAULT_PROVIDER, referenceOf } from './routes.ts';

/**
 * Delivery receipts of submitted SMS, matched to their notifications (reference §6.2 step 13).
 *
 * On acceptance send-sms records every part's message id (canonical form: the hex id as a number,
 * so `00A1` and `a1` compare equal) and the notification's parts in Redis. A receipt names its
 * part by exactly one id: the receipted_message_id TLV when it has one (SMPP 3.4 §5.3.2.12: the id
 * as submit_sm_resp gave it, so hex), else the `id:` of its text, read in the radix the SMSC is
 * configured to use there (`SMPP_RECEIPT_TEXT_ID_RADIX`; some SMSCs write it in decimal). Never
 * both readings: a digits-only hex id read as decimal is another, earlier message's id, and a
 * receipt matched that way marked the wrong notification and left its own SMS Accepted forever. A receipt marks its part; when every
 * part has a receipt, the notification's status is published: Delivered only if every part was
 * DELIVRD, else the first failing part's state. A receipt for an id not recorded yet (it beat
 * the submit's bookkeeping) is kept for an hour and applied when the id is recorded; looking a
 * receipt up and parking it is one Redis script, as recording an id and taking its parked receipt
 * is another, so a receipt that races its submit's recording is never lost between the two; and
 * recording a part's receipt and claiming the notification's report is a third, so receipts of
 * two parts that complete it at once (in one instance or two) report it once. Recording is
 * idempotent (a part already marked by its receipt stays marked), so a sender that recorded and
 * then failed records again when it handles the notification again. Once a notification is
 * reported, its ids are deleted and its parts kept an hour: the refs were most of what SMS left in
 * Redis per order, kept the ledger's 14 days for receipts that had all come.
 */
export interface SmsRef {
  notificationId: string;
  orderId: string;
  creator: string;
  destination: string;
  expiresAt: number;
  /** the notification's requested send time, for the delivery latency (absent on older refs) */
  requestedSendTime?: number;
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

const SCRIPTS = {
  smsRecordPart: 'sms/record-part.lua',
  smsTakeReceipt: 'sms/take-receipt.lua',
  smsCompletePart: 'sms/complete-part.lua',
} as const;

/** How long a receipt that completes a notification holds its report while it publishes it, ms. */
const REPORT_LEASE_MS = 30_000;

/** a failed Redis call here is Redis unavailable (retried until it answers), never an unexpected error */
const WHAT = 'sms receipts';

/** How long a reported notification's parts are kept, for receipts the SMSC sends again, s. */
const RELEASED_PARTS_SECONDS = 3600;

/** How long a receipt that came before its submit was recorded is kept for it. */
const PARK_SECONDS = 3600;

export class ReceiptTracker {
  /**
   * every read and write of the receipts: with `replicas`, on its connection (a WAIT covers only
   * its own connection's writes)
   */
  private readonly redis: ReturnType<typeof defineScripts<keyof typeof SCRIPTS>>;
  /** this tracker's claims on reports are its own (see complete-part.lua) */
  private readonly token = randomUUID();
  /**
   * How many receipts of each notification this tracker is applying now (from the claim to the
   * publish): only one that is alone here may take up this tracker's own claim.
   */
  private readonly applying = new Map<string, number>();
  /**
   * Reports this tracker published but could not mark reported yet (Redis away): their part ids,
   * and whether delivered. One entry per such report until a receipt or a retry marks it.
   */
  private readonly unmarked = new Map<string, { ids: string[]; delivered: boolean }>();

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly publish: (event: StatusEvent) => Promise<void>,
    private readonly clock: () => number = Date.now,
    /** told of each notification reported Delivered (its requested send time): for the metrics */
    private readonly delivered: (requestedSendTime: number | undefined) => void = () => undefined,
    /** the radix of the id in a receipt's text, used when the receipt has no receipted_message_id */
    private readonly textIdRadix: 16 | 10 = 16,
    /** the provider whose receipts these are: its name is in the reports' gatewayReference */
    private readonly provider: string = DEFAULT_PROVIDER,
    /**
     * with REDIS_WAIT_REPLICAS: `record` resolves once Redis's replicas hold the parts, so a
     * failover cannot lose those of an SMS reported Accepted (its receipts would find nothing,
     * and it would end Failed_TTL though delivered)
     */
    private readonly replicas?: ReplicaWait,
  ) {
    this.redis = defineScripts(replicas ? replicas.connection : redis, SCRIPTS);
  }

  // a part's ref and its parked receipt share a hash slot (one script reads and writes both)
  private refKey = (id: string) => `${this.prefix}ref:{${id}}`;
  private earlyKey = (id: string) => `${this.prefix}early:{${id}}`;
  private partsKey = (notificationId: string) => `${this.prefix}parts:{${notificationId}}`;

  /** Records an accepted notification's part ids (as the SMSC returned them, hex). */
  async record(ref: SmsRef, messageIds: string[]): Promise<void> {
    const ids = messageIds.map((m) => canonicalId(m, 16));
    // kept at least as long as the SMSC may still report (the validity period), plus an hour
    const ttl = Math.max(this.ttlSeconds, Math.ceil((ref.expiresAt - Date.now()) / 1000) + 3600);
    // the parts first: a receipt that finds a part's ref finds the parts it belongs to (a part
    // recorded before, and maybe marked by its receipt since, is left as it is). The parts and
    // the refs go in one round trip, in that order on the one connection, so Redis runs the
    // parts' transaction before it writes any ref, and a connection lost midway leaves the parts
    // without the refs, never the refs without the parts. (Redis refusing the transaction alone,
    // OOM aside, would take a broken command: under OOM it refuses the refs' script too.) A
    // failure of either fails the recording, which the retry does again.
    const parts = this.redis.multi();
    for (const id of ids) parts.hsetnx(this.partsKey(ref.notificationId), id, 'pending');
    const json = JSON.stringify(ref);
    let early: (string | null)[] = [];
    await inRedis(WHAT, async () => {
      const recorded = parts.expire(this.partsKey(ref.notificationId), ttl).exec();
      // issued in the same tick as the transaction, not after its answer: one round trip
      const refs = ids.map((id) => this.redis.smsRecordPart(this.refKey(id), this.earlyKey(id), json, ttl));
      const [done, ...answers] = await Promise.allSettled([recorded, ...refs]);
      if (done!.status === 'rejected') throw done!.reason;
      const failed = answers.find((a) => a.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      early = answers.map((a) => (a as PromiseFulfilledResult<unknown>).value as string | null);
    });
    // (too few replicas in time: the record is tried again, and its replay records the parts again)
    if (this.replicas) await this.replicas.hold('the parts');
    for (const [i, id] of ids.entries()) if (early[i]) await this.apply(id, ref, early[i]!);
    // a parked receipt taken above is gone from Redis: its mark must last as long as its taking
    if (this.replicas && early.some(Boolean)) await this.replicas.hold('the early receipts');
  }

  /** A deliver_sm receipt. Resolves once it is recorded (and published, when it completes one). */
  async onReceipt(r: Receipt): Promise<void> {
    const id = this.receiptId(r);
    if (id === null) return; // nothing to match it by: acknowledged, as an SMSC would retry it forever
    const stat = parseReceipt(r.text).stat ?? 'UNKNOWN';
    // Found, or parked in the same step, so the recording (record-part.lua) either sees the
    // parked receipt or is seen by it.
    const json = (await inRedis(WHAT, () =>
      this.redis.smsTakeReceipt(this.refKey(id), this.earlyKey(id), stat, PARK_SECONDS),
    )) as string | null;
    if (json) await this.apply(id, JSON.parse(json) as SmsRef, stat);
    // Acknowledged (its deliver_sm_resp) only once the replicas hold what it wrote, its part's
    // mark and report or itself parked: the SMSC does not send an acknowledged receipt again, so
    // a failover that lost them would leave the SMS reported Accepted until it ends Failed_TTL
    // though delivered. Too few in time: left unacknowledged, and the SMSC sends it again.
    if (this.replicas) await this.replicas.hold('the receipt');
  }

  /** The one id a receipt names its part by (canonical), or null when it names none. */
  receiptId(r: Receipt): string | null {
    if (r.messageId?.trim()) return canonicalId(r.messageId, 16);
    const text = parseReceipt(r.text).id;
    return text ? canonicalId(text, this.textIdRadix) : null;
  }

  private async apply(partId: string, ref: SmsRef, stat: string): Promise<void> {
    const n = ref.notificationId;
    const published = this.unmarked.get(n);
    // published here already, its mark lost (Redis went away): marked now, never published again
    if (published) return this.markReported(this.partsKey(n), ref, published.ids, published.delivered);
    const alone = !this.applying.has(n);
    this.applying.set(n, (this.applying.get(n) ?? 0) + 1);
    try {
      // this tracker's own claim, left by an attempt that failed, is taken up again at once; not
      // while another receipt of it is being applied here (that one may hold the claim now)
      await this.claimAndPublish(partId, ref, stat, alone ? this.token : '');
    } finally {
      const left = (this.applying.get(n) ?? 1) - 1;
      if (left > 0) this.applying.set(n, left);
      else this.applying.delete(n);
    }
  }

  private async claimAndPublish(partId: string, ref: SmsRef, stat: string, holder: string): Promise<void> {
    const key = this.partsKey(ref.notificationId);
    const answer = (await inRedis(WHAT, () =>
      this.redis.smsCompletePart(key, partId, stat, this.clock(), REPORT_LEASE_MS, holder),
    )) as string[];
    if (answer[0] === 'busy') {
      // another receipt of this notification is being reported right now (here or in another
      // instance): leave this one unacknowledged, the SMSC delivers it again
      throw retriable('DEPENDENCY_UNAVAILABLE', `the report of ${ref.notificationId} is being published now`);
    }
    if (answer[0] !== 'report') return;
    // every part has its receipt, and this receipt holds the report: publish, then mark it, so a
    // receipt the SMSC delivers again after a crash in between publishes it (once the claim
    // lapses) rather than never
    const states: [string, string][] = [];
    for (let i = 1; i < answer.length; i += 2) states.push([answer[i]!, answer[i + 1]!]);
    const failed = states.find(([, s]) => s !== 'DELIVRD');
    const status = failed ? receiptStatus(failed[1]) : 'SMS_Delivered';
    try {
      await this.publish({
        ...orderStatus({ orderId: ref.orderId, creator: ref.creator }, status, this.clock()),
        notificationId: ref.notificationId,
        channel: 'Sms',
        destination: ref.destination,
        gatewayReference: referenceOf(
          this.provider,
          states.map(([id]) => id),
        ),
        expiresAt: ref.expiresAt,
        description: failed ? `receipt stat:${failed[1]}` : null,
      });
    } catch (err) {
      // not published: the next delivery of a receipt may take the report at once
      await this.redis.hdel(key, '_claim').catch(() => undefined);
      throw err;
    }
    await this.markReported(
      key,
      ref,
      states.map(([id]) => id),
      !failed,
    );
  }

  /** Marks a published report; until that is done, a receipt of it here only marks it. */
  private async markReported(key: string, ref: SmsRef, ids: string[], delivered: boolean): Promise<void> {
    this.unmarked.set(ref.notificationId, { ids, delivered });
    await inRedis(WHAT, () => this.redis.hset(key, '_reported', '1'));
    // (counted once, by the mark that found it unmarked)
    if (this.unmarked.delete(ref.notificationId) && delivered) this.delivered(ref.requestedSendTime);
    // Reported: nothing waits for these parts any more. The ids are let go now, and the parts an
    // hour from now (a receipt the SMSC sends again meanwhile finds them reported; later, it
    // finds no id, is parked an hour and acknowledged). Only memory is at stake if this fails.
    // (one command per key: the keys lie in different hash slots). Not in the mark's round trip:
    // a mark Redis refused (OOM refuses HSET, not DEL) must leave the ids for the receipt sent
    // again, which marks it.
    await Promise.all([
      this.redis.expire(key, RELEASED_PARTS_SECONDS),
      ...ids.map((id) => this.redis.del(this.refKey(id))),
    ]).catch(() => undefined);
  }
}
