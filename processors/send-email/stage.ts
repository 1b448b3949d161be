import { REPLAY_OF_HEADER } from '../../platform/dead-letters.ts';
import { retriable } from '../../platform/errors.ts';
import type { DeliveryRef, DeliveryRefs } from '../../platform/redis/delivery-refs.ts';
import type { SendLedger } from '../../platform/redis/send-ledger.ts';
import type { EmailNotification } from '../../platform/schemas/generated/email-notification.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { isSingleMailbox } from '../../platform/smtp/address.ts';
import type { AttachmentFetcher, FetchResult } from '../../platform/http/attachment-client.ts';
import type { Mail, SendVerdict } from '../../platform/smtp/mailer.ts';
import { emit, retry, type Outcome, type RecordContext, type Stage } from '../runtime/stage.ts';
import { beforeHandOver, laneName, senderStage, statusReport } from '../send-common.ts';

/** The header of a record on `email.composed.retry` that `retryingSince` reads (ms since epoch). */
export const RETRYING_SINCE = 'x-notifications-retrying-since';
/**
 * When the storage first failed for the email of a record on `email.composed.retry`: its header,
 * else when the record was written (the first failure's record, or one written before the
 * header). A dead letter's replay starts a window of its own: an operator's new try.
 */
export function retryingSince(ctx: Pick<RecordContext, 'headers' | 'timestamp'>): number {
  if (ctx.headers[REPLAY_OF_HEADER]) return ctx.timestamp;
  const v = Number(ctx.headers[RETRYING_SINCE]?.toString('latin1'));
  return Number.isSafeInteger(v) && v > 0 ? v : ctx.timestamp;
}

export interface SendEmailPorts {
  mailer: { send(m: Mail): Promise<SendVerdict> };
  ledger: SendLedger;
  /** where an accepted message's Message-ID is mapped back to its notification (for reports) */
  refs?: DeliveryRefs;
  /** waits for the provider's rate limit; resolves when this message may go */
  throttle: () => Promise<void>;
  clock: () => number;
  /** told once the provider has accepted a notification (its requested send time): for the metrics */
  handedOff?: (requestedSendTime: number) => void;
  /**
   * Notifications handled at once, per partition and in all: a partition may have this many in
   * its handler, and this many at most, across partitions, are between their claim and the
   * server's answer (so a crash leaves no more in doubt than the SMTP pool had under way).
   */
  concurrency?: number;
  /** fetches a composed email's files (the composed lane; an email with files and no fetcher is refused) */
  files?: Pick<AttachmentFetcher, 'fetchAll'>;
  /**
   * the composed lanes: a storage that cannot answer now sends the email to
   * email.composed.retry, tried again `delayMs` after it was written there, for `forMs` past the
   * storage's first failure for it (then Email_Failed); without it, retried in place
   */
  composedRetry?: { delayMs: number; forMs: number };
}

/**
 * send-email: one email per notification to its one address, over SMTP, at most once.
 *
 * Before the hand-over the notification is marked in the send ledger; after it, the outcome is
 * recorded there, then reported on the status topic in the stage's transaction. A replay (after
 * a crash, or a transaction that failed) finds the mark and reports the recorded outcome
 * without sending again. A crash in the middle of the SMTP conversation leaves the outcome
 * unknown: the notification is reported Failed rather than risk a second copy.
 *
 * Outcomes: an address that is not exactly one mailbox (`isSingleMailbox`) → Email_Failed_InvalidFormat
 * for the recipient, Email_Failed for the sender, sent nowhere; accepted → Email_Succeeded (reference = message id); 5xx on the address →
 * Email_Failed_InvalidFormat; other 5xx → Email_Failed; 4xx or a connection that failed before
 * the message was handed over → retried with backoff, the notification stays as it is; past
 * its expiry before it could be sent → Email_Failed_TTL, not sent.
 *
 * A composed email (one with files, the lane `send-email.composed`) first fetches its files,
 * before its claim, so a crash while fetching leaves nothing in doubt; then, if the ledger says
 * it is the first to hand it over: a file the storage refused, or a URL it may not fetch →
 * Email_Failed_InvalidSasUrl; files larger together than allowed, or a 552 from the server →
 * Email_Failed_PayloadTooLarge; a storage that did not answer → the claim given back and retried.
 */
export function sendEmailStage<
  I extends 'emailQueue' | 'emailInstant' | 'emailComposed' | 'emailComposedRetry' = 'emailQueue',
>(
  ports: SendEmailPorts,
  /** its queue, the instant lane (`send-email.instant`), the composed lane (`send-email.composed`) or its retries (`send-email.composed-retry`) */
  input: I = 'emailQueue' as I,
): Stage<I> {
  const report = (
    n: EmailNotification,
    status: StatusEvent['status'],
    reference: string | null,
    description: string | null,
  ) => statusReport(n, 'Email', n.toAddress, status, ports.clock(), reference, description);

  const composed = input === 'emailComposed' || input === 'emailComposedRetry';
  const stage = senderStage(
    laneName('send-email', input),
    input,
    ports.concurrency,
    sendOne,
    composed && ports.composedRetry ? ['status', 'emailComposedRetry'] : ['status'],
  );
  const again = ports.composedRetry;
  if (input !== 'emailComposedRetry' || !again) return stage;
  // The retries' lane: a record is due `delayMs` after it was written. Every record behind it
  // was written later, so the partition waits for this one and holds up none that is due.
  return {
    ...stage,
    handle: (n, ctx) => {
      const wait = ctx.timestamp + again.delayMs - ports.clock();
      if (wait > 0)
        return retry(retriable('DEPENDENCY_UNAVAILABLE', `its files are fetched again in ${wait} ms`), wait);
      return stage.handle(n, ctx);
    },
  };

  async function sendOne(
    n: EmailNotification,
    mark: (step: string) => void = () => undefined,
    /** the server has answered and the outcome's write is issued: the place may take the next (see senderStage) */
    handedOver: () => void = () => undefined,
    ctx?: RecordContext,
  ): Promise<Outcome> {
    // Each outcome's write is issued at once (on the stores' one Redis connection, before any
    // later claim), then the place is given back, and only then is the write awaited: the SMTP
    // connection and the place wait for none of them (see senderStage).
    const recorded = (write: Promise<unknown>) => {
      handedOver();
      return write;
    };
    // Decided from the record alone, so a replay decides the same: no ledger mark needed.
    const refused = refusedAddress(n);
    if (refused) return report(n, refused.status, null, refused.description);
    // A composed email's files, fetched before the claim (not when it is past its expiry: the
    // claim then reports that, or an earlier outcome).
    let fetched: FetchResult | null = null;
    if (n.attachments && ports.clock() <= n.expiry) {
      mark('fetching files');
      fetched = ports.files
        ? await ports.files.fetchAll(n.attachments)
        : { kind: 'invalid', reason: 'this lane does not fetch files' };
    }
    // the rate limit is waited out before the claim, so no claim waits on it
    mark('rate limit');
    await ports.throttle();
    mark('send ledger');
    const instead = await beforeHandOver(
      ports.ledger,
      n,
      ports.clock(),
      { failed: 'Email_Failed', expired: 'Email_Failed_TTL' },
      'email',
    );
    if (instead) {
      // a replay of an accepted email: its delivery ref may not be there (the sender failed
      // between the two writes, or the ref's wait for Redis's replicas ran out), and putting it
      // again changes nothing put
      if (instead.status === 'Email_Succeeded' && instead.reference && ports.refs)
        await ports.refs.put(instead.reference, deliveryRefOf(n));
      return report(n, instead.status, instead.reference, instead.description);
    }
    // the ledger says this is the first hand-over: what the files' fetch found decides
    if (fetched && fetched.kind !== 'ok') {
      if (fetched.kind === 'transient') {
        await recorded(ports.ledger.abandon(n.notificationId));
        const again = ports.composedRetry;
        if (!again) return retry(retriable('DEPENDENCY_UNAVAILABLE', `attachment storage not now: ${fetched.reason}`));
        // (tried for `forMs` from the storage's first failure, whenever the email came to be sent)
        const since = input === 'emailComposedRetry' && ctx ? retryingSince(ctx) : ports.clock();
        if (ports.clock() - since > again.forMs) {
          const span =
            again.forMs >= 120_000 ? `${Math.round(again.forMs / 60_000)} minutes` : `${again.forMs / 1000} s`;
          const why = `the files' storage did not answer for ${span}: ${fetched.reason}`;
          await ports.ledger.done(n.notificationId, 'Email_Failed', '', why.slice(0, 500));
          return report(n, 'Email_Failed', null, why.slice(0, 500));
        }
        // tried again later, off this partition, so it holds up no other email
        return emit({
          topic: 'emailComposedRetry',
          key: n.notificationId,
          value: n,
          headers: { [RETRYING_SINCE]: String(since) },
        });
      }
      const status = fetched.kind === 'invalid' ? 'Email_Failed_InvalidSasUrl' : 'Email_Failed_PayloadTooLarge';
      const why = fetched.reason.slice(0, 500);
      await recorded(ports.ledger.done(n.notificationId, status, '', why));
      return report(n, status, null, why);
    }
    mark('SMTP hand-over');
    const verdict = await ports.mailer.send({
      from: n.fromAddress,
      to: n.toAddress,
      subject: n.subject,
      body: n.body,
      html: n.contentType === 'Html',
      headers: { 'X-Notification-Id': n.notificationId, 'X-Order-Id': n.orderId },
      ...(fetched?.kind === 'ok' ? { attachments: fetched.files } : {}),
    });
    mark('recording the hand-over');
    switch (verdict.kind) {
      case 'accepted':
        // both writes in one round trip (the client pipelines them, in this order)
        await recorded(
          Promise.all([
            ports.refs?.put(verdict.reference, deliveryRefOf(n)),
            ports.ledger.done(n.notificationId, 'Email_Succeeded', verdict.reference),
          ]),
        );
        ports.handedOff?.(n.requestedSendTime);
        return report(n, 'Email_Succeeded', verdict.reference, null);
      case 'rejected': {
        const status = verdict.address
          ? 'Email_Failed_InvalidFormat'
          : verdict.tooLarge
            ? 'Email_Failed_PayloadTooLarge'
            : 'Email_Failed';
        const why = `SMTP ${verdict.code}: ${verdict.text}`.slice(0, 500);
        await recorded(ports.ledger.done(n.notificationId, status, '', why));
        return report(n, status, null, why);
      }
      case 'invalid-address': {
        const status = verdict.which === 'to' ? 'Email_Failed_InvalidFormat' : 'Email_Failed';
        const why = `the ${verdict.which} address is not exactly one mailbox; not sent`;
        await recorded(ports.ledger.done(n.notificationId, status, '', why));
        return report(n, status, null, why);
      }
      case 'transient':
        // certainly not handed over: clear the mark so the retry may send
        await recorded(ports.ledger.abandon(n.notificationId));
        return retry(retriable('DEPENDENCY_UNAVAILABLE', `SMTP not now: ${verdict.text}`));
      default: {
        const why = `SMTP connection lost during the hand-over: ${verdict.text}`.slice(0, 500);
        await recorded(ports.ledger.done(n.notificationId, 'Email_Failed', '', why));
        return report(n, 'Email_Failed', null, why);
      }
    }
  }
}

/** What an accepted email's delivery report needs to report it (its SMTP reference's ref). */
function deliveryRefOf(n: EmailNotification): DeliveryRef {
  return {
    notificationId: n.notificationId,
    orderId: n.orderId,
    creator: n.creator,
    destination: n.toAddress,
    expiresAt: n.expiry,
    requestedSendTime: n.requestedSendTime,
  };
}

/** Why this notification's addresses cannot go to SMTP as they are, if they cannot. */
export function refusedAddress(
  n: Pick<EmailNotification, 'toAddress' | 'fromAddress'>,
): { status: StatusEvent['status']; description: string } | null {
  if (!isSingleMailbox(n.toAddress))
    return {
      status: 'Email_Failed_InvalidFormat',
      description: 'the recipient address is not exactly one mailbox; sent nowhere',
    };
  if (!isSingleMailbox(n.fromAddress))
    return { status: 'Email_Failed', description: 'the sender address is not exactly one mailbox; sent nowhere' };
  return null;
}
