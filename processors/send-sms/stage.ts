import { randomInt } from 'node:crypto';
import { retriable } from '../../platform/errors.ts';
import type { SendLedger } from '../../platform/redis/send-ledger.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { STATUS, type SubmitFields, type SubmitResult } from '../../platform/smpp/client.ts';
import { senderAddress, smppTime, splitMessage } from '../../platform/smpp/message.ts';
import { retry, type Outcome, type Stage } from '../runtime/stage.ts';
import { beforeHandOver, laneName, senderStage, statusReport } from '../send-common.ts';
import type { ReceiptTracker, SmsRef } from './receipts.ts';
import { parseReference, referenceOf, routeFor, type ProviderHealth, type SmsRoute } from './routes.ts';

/** One SMSC account as send-sms uses it. */
export interface SmsProviderPort {
  /** its name in SMS_ROUTES (`default` for the one SMSC_* configure) */
  name: string;
  smpp: { submit(fields: SubmitFields): Promise<SubmitResult> };
  /** where its receipts are matched (ids are the provider's own: each has its own keys) */
  receipts: Pick<ReceiptTracker, 'record'>;
  /** whether it takes SMS now; without one, always */
  health?: Pick<ProviderHealth, 'state' | 'throttled' | 'accepted'>;
}

export interface SendSmsPorts {
  /** the SMSC accounts, in the order they are declared */
  providers: SmsProviderPort[];
  /** which providers a number goes to, in order (default: every number to every provider) */
  routes?: SmsRoute[];
  ledger: SendLedger;
  clock: () => number;
  /** told once the provider has accepted a notification (its requested send time): for the metrics */
  handedOff?: (requestedSendTime: number) => void;
  /** backoff between tries of a throttled part, ms */
  throttledBackoffMs?: number;
  /**
   * Notifications handled at once, per partition and in all: a partition may have this many in
   * its handler, and this many at most, across partitions, are between their claim and the
   * SMSC's answer (the SMPP window is the natural choice: a crash then leaves no more in doubt
   * than the window had under way).
   */
  concurrency?: number;
}

/**
 * send-sms: each notification as one or more submit_sm (GSM 03.38 or UCS-2, UDH-concatenated up
 * to 16 parts), registered_delivery always set, validity period from its expiry; at most once
 * per notification through the send ledger, as send-email.
 *
 * submit_sm_resp: OK → SMS_Accepted (gatewayReference = the parts' message ids); invalid
 * destination → SMS_Failed_InvalidRecipient; throttled or queue full → the part is tried again
 * after a backoff (the notification is never reported failed meanwhile); no session → wait and
 * retry before anything was sent; a session lost with a part unanswered → SMS_Failed (it may
 * have gone: not sent again); other errors → SMS_Failed. Receipts finish the story (receipts.ts).
 */
export function sendSmsStage<I extends 'smsQueue' | 'smsInstant' = 'smsQueue'>(
  ports: SendSmsPorts,
  /** its queue, or the instant lane (stage `send-sms.instant`) */
  input: I = 'smsQueue' as I,
): Stage<I> {
  const report = (
    n: SmsNotification,
    status: StatusEvent['status'],
    reference: string | null,
    description: string | null,
  ) => statusReport(n, 'Sms', n.recipient, status, ports.clock(), reference, description);
  const backoff = ports.throttledBackoffMs ?? 500;

  const byName = new Map(ports.providers.map((p) => [p.name, p]));
  const routes = ports.routes ?? [{ prefix: '*', providers: ports.providers.map((p) => p.name) }];

  return senderStage(laneName('send-sms', input), input, ports.concurrency, sendOne);

  /**
   * The providers to try for `number`, in its route's order: the ones up first; the rest after
   * them (a provider out only for a while is waited for, as one provider alone always was).
   */
  function candidates(number: string): SmsProviderPort[] {
    const listed = routeFor(routes, number).flatMap((name) => byName.get(name) ?? []);
    const up = listed.filter((p) => p.health?.state().up ?? true);
    return [...up, ...listed.filter((p) => !up.includes(p))];
  }

  async function sendOne(n: SmsNotification, mark: (step: string) => void = () => undefined): Promise<Outcome> {
    // Decided from the record alone, so a replay decides the same: no ledger mark needed.
    const refused = refusedSms(n);
    if (refused) return report(n, refused.status, null, refused.description);
    const route = candidates(n.recipient);
    if (route.length === 0)
      return report(n, 'SMS_Failed', null, 'no SMS route (SMS_ROUTES) takes this number; sent nowhere');
    mark('send ledger');
    const instead = await beforeHandOver(
      ports.ledger,
      n,
      ports.clock(),
      { failed: 'SMS_Failed', expired: 'SMS_Failed_TTL' },
      'SMS',
    );
    if (instead) {
      // a replay of an accepted SMS: its parts may not have been recorded for their receipts
      // (the sender failed between the two), and recording again changes nothing recorded
      if (instead.status === 'SMS_Accepted' && instead.reference) {
        const { provider, ids } = parseReference(instead.reference);
        const by = byName.get(provider);
        if (by) await by.receipts.record(smsRef(n), ids);
        // the reference as the first report gave it (with its provider's name)
        return report(n, instead.status, instead.reference, instead.description);
      }
      return report(n, instead.status, instead.reference, instead.description);
    }
    const source = senderAddress(n.sender);
    const parts = splitMessage(n.body, randomInt(256));
    const ids: string[] = [];
    // the provider of the first part takes every part (concatenation is the SMSC's)
    let at = 0;
    let provider = route[at]!;
    for (const part of parts) {
      const fields: SubmitFields = {
        source_addr: source.addr,
        source_addr_ton: source.ton,
        source_addr_npi: source.npi,
        destination_addr: n.recipient.replace(/^\+/, ''),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        registered_delivery: 1,
        validity_period: smppTime(n.expiry),
        data_coding: part.dataCoding,
        esm_class: part.udh ? 0x40 : 0,
        short_message: part.udh ? { udh: part.udh, message: part.text } : part.text,
      };
      for (let attempt = 1; ; attempt++) {
        mark(`submit_sm to ${provider.name} (part ${ids.length + 1} of ${parts.length}, attempt ${attempt})`);
        const r = await provider.smpp.submit(fields).catch(async (err: unknown) => {
          // the submit was never written (the account's limit could not be asked: Redis away):
          // with nothing handed over yet, the claim is let go, so the retry here sends it
          if (ids.length === 0) await ports.ledger.abandon(n.notificationId).catch(() => undefined);
          throw err;
        });
        if (r.kind === 'accepted') {
          provider.health?.accepted();
          ids.push(r.messageId);
          break;
        }
        const throttled =
          r.kind === 'error' && (r.status === STATUS.ESME_RTHROTTLED || r.status === STATUS.ESME_RMSGQFUL);
        if (throttled) provider.health?.throttled();
        if (throttled || r.kind === 'unsent') {
          // nothing handed over yet: the next provider of the route that is up may take it
          if (ids.length === 0) {
            const next = route.slice(at + 1).findIndex((p) => p.health?.state().up ?? true);
            if (next >= 0) {
              at += next + 1;
              provider = route[at]!;
              attempt = 0;
              continue;
            }
          }
          if (ids.length === 0 && attempt >= 3) {
            // nothing handed over yet: let the runtime retry the whole record with its backoff
            await ports.ledger.abandon(n.notificationId);
            return retry(
              retriable(
                'DEPENDENCY_UNAVAILABLE',
                `SMSC ${provider.name}: ${r.kind === 'unsent' ? r.reason : `status 0x${r.status.toString(16)}`}`,
              ),
            );
          }
          await new Promise((res) => setTimeout(res, Math.min(5_000, backoff * attempt)));
          continue;
        }
        const reference = ids.length > 0 ? referenceOf(provider.name, ids) : null;
        if (r.kind === 'uncertain') {
          const why = `SMSC ${provider.name} answer lost: ${r.reason}`;
          await ports.ledger.done(n.notificationId, 'SMS_Failed', reference ?? '', why);
          return report(n, 'SMS_Failed', reference, why);
        }
        const status = r.status === STATUS.ESME_RINVDSTADR ? 'SMS_Failed_InvalidRecipient' : 'SMS_Failed';
        const why = `submit_sm refused by ${provider.name}: status 0x${r.status.toString(16)}`;
        await ports.ledger.done(n.notificationId, status, reference ?? '', why);
        return report(n, status, reference, why);
      }
    }
    // The hand-over is recorded first: whatever fails after it, a replay reports Accepted (not a
    // hand-over cut short) and records the parts for their receipts again.
    mark('recording the hand-over');
    const reference = referenceOf(provider.name, ids);
    await ports.ledger.done(n.notificationId, 'SMS_Accepted', reference);
    mark('recording the parts for their receipts');
    await provider.receipts.record(smsRef(n), ids);
    ports.handedOff?.(n.requestedSendTime);
    return report(n, 'SMS_Accepted', reference, parts.length > 1 ? `${parts.length} parts` : null);
  }
}

/** What a receipt of this notification's parts needs to report it. */
function smsRef(n: SmsNotification): SmsRef {
  return {
    notificationId: n.notificationId,
    orderId: n.orderId,
    creator: n.creator,
    destination: n.recipient,
    expiresAt: n.expiry,
    requestedSendTime: n.requestedSendTime,
  };
}

/**
 * Why this SMS cannot go to the SMSC as it is, if it cannot. SMPP addresses are C-octet strings:
 * a NUL or other control character would cut or corrupt the field, so the recipient must be an
 * E.164 number and the sender text without control characters, whoever wrote the record.
 */
export function refusedSms(
  n: Pick<SmsNotification, 'recipient' | 'sender'>,
): { status: StatusEvent['status']; description: string } | null {
  if (!/^\+[1-9][0-9]{5,14}$/.test(n.recipient))
    return { status: 'SMS_Failed_InvalidRecipient', description: 'the recipient is not an E.164 number; sent nowhere' };
  // eslint-disable-next-line no-control-regex
  if (n.sender.trim() === '' || /[\x00-\x1f\x7f-\x9f]/.test(n.sender))
    return { status: 'SMS_Failed', description: 'the sender is empty or holds control characters; sent nowhere' };
  return null;
}
