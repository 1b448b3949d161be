import type { NoAltinnNotifications as Enriched } from '../schemas/generated/enriched-order.ts';
import type { EmailNotification } from '../schemas/generated/email-notification.ts';
import type { NotificationOrder } from '../schemas/generated/order.ts';
import type { SmsNotification } from '../schemas/generated/sms-notification.ts';
import type { StatusEvent } from '../schemas/generated/status-event.ts';
import { smsCountOf } from './sms-count.ts';
import { expiryFor, type SendWindow } from './window.ts';

type Recipient = Enriched.ResolvedRecipient;
type Channel = 'Email' | 'Sms';
type Lifecycle = StatusEvent['status'];
type Fallback = NonNullable<StatusEvent['fallback']>;

/** What each notification's id is derived from, within its order (`env.newId`): kept as it is, ids stay as they were. */
const NAMES = {
  email: (ri: number, address: string) => `email ${ri} ${address}`,
  sms: (ri: number, mobile: string) => `sms ${ri} ${mobile}`,
};

export interface Resolution {
  emails: EmailNotification[];
  sms: SmsNotification[];
  /** one per notification (New or a failure placeholder), then the order's own */
  statuses: StatusEvent[];
}

/** Which addresses of a recipient a channel schema uses (reference §8, "Channel resolution"). */
function pick(channel: NotificationOrder['notificationChannel'], r: Recipient): { email: string[]; sms: string[] } {
  const e = r.emailAddresses;
  const m = r.mobileNumbers;
  switch (channel) {
    case 'Email':
      return { email: e, sms: [] };
    case 'Sms':
      return { email: [], sms: m };
    case 'EmailAndSms':
      return { email: e, sms: m };
    // Preferred: the preferred kind if the recipient (a person, an organisation's official list,
    // or one user-registered contact) has any, else the other kind.
    case 'EmailPreferred':
      return e.length > 0 ? { email: e, sms: [] } : { email: [], sms: m };
    case 'SmsPreferred':
      return m.length > 0 ? { email: [], sms: m } : { email: e, sms: [] };
  }
}

/** The channels on which a recipient without a usable address gets a placeholder. */
function placeholderChannels(channel: NotificationOrder['notificationChannel']): Channel[] {
  if (channel === 'EmailAndSms') return ['Email', 'Sms'];
  return channel === 'Email' || channel === 'EmailPreferred' ? ['Email'] : ['Sms'];
}

/** Whether a text has keywords filled in per recipient (the reference then keeps a customized body). */
export const hasKeywords = (text: string) => text.includes('$recipientName$') || text.includes('$recipientNumber$');

function keywords(text: string, r: Recipient): string {
  // $recipientNumber$ is the organisation number for organisations and empty for persons.
  return text.replaceAll('$recipientName$', r.name ?? '').replaceAll('$recipientNumber$', r.organizationNumber ?? '');
}

/**
 * The one channel decision: resolve-channel calls it for every approved order, the gateway for
 * an instant order (whose one recipient is its one address). It turns an order and its
 * looked-up recipients into notifications: one per address, or
 * a Failed_RecipientReserved / Failed_RecipientNotIdentified placeholder where §8 makes one,
 * each with its id and expiry, keywords substituted; plus a status event per notification and
 * the order's own (Completed when every notification is already final, else Processed).
 */
export function resolveNotifications(
  order: NotificationOrder,
  recipients: Recipient[],
  /**
   * `newId(name)`: the id for what `name` names within this order. Given the same name for the
   * same order it must give the same id (the stage derives it), so handling the order again
   * produces the same notifications, which the senders de-duplicate by id.
   */
  env: {
    now: number;
    window: SendWindow;
    newId: (name: string) => string;
    /** substitute $recipientName$ / $recipientNumber$ (default true; instant orders send their text as given) */
    keywords?: boolean;
    /**
     * (an extension) the fallback on the delivery outcome is on for this order: for EmailPreferred
     * and SmsPreferred, a recipient with addresses of both kinds gets, on the New event of each
     * preferred-channel notification, what the other channel sends once all of them have finally
     * failed (status-view sends it). Default false.
     */
    fallback?: boolean;
  },
): Resolution {
  const text = (t: string, r: Recipient) => (env.keywords === false ? t : keywords(t, r));
  const customized = (t: string) => env.keywords !== false && hasKeywords(t);
  // an order with its own time to live (instant orders) expires then, whatever the channel
  const expiry = (channel: Channel, policy: NotificationOrder['sendingTimePolicy']) =>
    order.timeToLiveSeconds !== null
      ? order.requestedSendTime + order.timeToLiveSeconds * 1000
      : expiryFor(channel, policy, order.requestedSendTime, env.window);
  const out: Resolution = { emails: [], sms: [], statuses: [] };
  const status = (s: Lifecycle, extra: Partial<StatusEvent> = {}): StatusEvent => ({
    eventId: env.newId(`status ${out.statuses.length}`),
    orderId: order.orderId,
    creator: order.creator,
    notificationId: null,
    channel: null,
    destination: null,
    status: s,
    description: null,
    gatewayReference: null,
    occurredAt: env.now,
    expiresAt: null,
    fallback: null,
    recipientNationalIdentityNumber: null,
    recipientOrganizationNumber: null,
    requestedSendTime: null,
    smsCount: null,
    customBodyLength: null,
    ...extra,
  });
  // who a notification is for, and when its order asked it sent, on the event that creates it
  // (the support dashboard's index: views' ViewStore.dashboard), and what one of the order's SMS
  // counts for (the monthly metrics; on every creating event, for a fallback's SMS too)
  const smsCount = order.smsTemplate ? smsCountOf(order.smsTemplate.body) : null;
  const about = (r: Recipient): Partial<StatusEvent> => ({
    recipientNationalIdentityNumber: r.nationalIdentityNumber,
    recipientOrganizationNumber: r.organizationNumber,
    requestedSendTime: order.requestedSendTime,
    smsCount,
  });
  const placeholder = (channel: Channel, kind: 'RecipientReserved' | 'RecipientNotIdentified', ri: number) => {
    const s = (channel === 'Email' ? `Email_Failed_${kind}` : `SMS_Failed_${kind}`) as Lifecycle;
    out.statuses.push(status(s, { notificationId: env.newId(`${s} ${ri}`), channel, ...about(recipients[ri]!) }));
  };

  for (const [ri, r] of recipients.entries()) {
    if (r.isReserved && !order.ignoreReservation) {
      for (const c of placeholderChannels(order.notificationChannel)) placeholder(c, 'RecipientReserved', ri);
      continue;
    }
    const { email, sms } = pick(order.notificationChannel, r);
    const needed = placeholderChannels(order.notificationChannel);
    if (email.length === 0 && sms.length === 0) {
      for (const c of needed) placeholder(c, 'RecipientNotIdentified', ri);
      continue;
    }
    // EmailAndSms: a recipient with addresses on one channel only gets a placeholder on the other.
    if (order.notificationChannel === 'EmailAndSms') {
      if (email.length === 0) placeholder('Email', 'RecipientNotIdentified', ri);
      if (sms.length === 0) placeholder('Sms', 'RecipientNotIdentified', ri);
    }
    const fallback = env.fallback ? fallbackFor(order, r, ri, { email, sms }, text, env.newId) : null;
    for (const toAddress of email) {
      const t = order.emailTemplate;
      if (!t) throw new Error('an email notification needs the order to carry an email template');
      const n: EmailNotification = {
        notificationId: env.newId(NAMES.email(ri, toAddress)),
        orderId: order.orderId,
        creator: order.creator,
        fromAddress: t.fromAddress,
        toAddress,
        subject: text(t.subject, r),
        body: text(t.body, r),
        contentType: t.contentType,
        requestedSendTime: order.requestedSendTime,
        expiry: expiry('Email', 'Anytime'),
        attachments: order.attachments,
      };
      out.emails.push(n);
      out.statuses.push(
        status('Email_New', {
          notificationId: n.notificationId,
          channel: 'Email',
          destination: toAddress,
          expiresAt: n.expiry,
          fallback,
          ...about(r),
        }),
      );
    }
    for (const recipient of sms) {
      const t = order.smsTemplate;
      if (!t) throw new Error('an SMS notification needs the order to carry an SMS template');
      const n: SmsNotification = {
        notificationId: env.newId(NAMES.sms(ri, recipient)),
        orderId: order.orderId,
        creator: order.creator,
        sender: t.senderNumber,
        recipient,
        body: text(t.body, r),
        sendingTimePolicy: order.sendingTimePolicy,
        requestedSendTime: order.requestedSendTime,
        expiry: expiry('Sms', order.sendingTimePolicy),
      };
      out.sms.push(n);
      out.statuses.push(
        status('SMS_New', {
          notificationId: n.notificationId,
          channel: 'Sms',
          destination: recipient,
          expiresAt: n.expiry,
          fallback,
          ...about(r),
          customBodyLength: customized(t.body) ? [...n.body].length : null,
        }),
      );
    }
  }
  const pending = out.emails.length + out.sms.length > 0;
  out.statuses.push(status(pending ? 'Order_Processed' : 'Order_Completed'));
  return out;
}

/**
 * A recipient's fallback (see `env.fallback`): null unless the order prefers a channel, the
 * recipient has addresses of both kinds and the order carries both templates. Its members are
 * the ids the loop above gives the preferred-channel notifications (the same names); each
 * address of the other kind gets one notification, its id derived from its own name.
 */
function fallbackFor(
  order: NotificationOrder,
  r: Recipient,
  ri: number,
  picked: { email: string[]; sms: string[] },
  text: (t: string, r: Recipient) => string,
  newId: (name: string) => string,
): Fallback | null {
  const preferred = order.notificationChannel;
  if (preferred !== 'EmailPreferred' && preferred !== 'SmsPreferred') return null;
  const e = order.emailTemplate;
  const t = order.smsTemplate;
  if (!e || !t || r.emailAddresses.length === 0 || r.mobileNumbers.length === 0) return null;
  const members = [
    ...picked.email.map((a) => newId(NAMES.email(ri, a))),
    ...picked.sms.map((m) => newId(NAMES.sms(ri, m))),
  ];
  const notifications: Fallback['notifications'] =
    picked.email.length > 0
      ? r.mobileNumbers.map((m) => ({
          notificationId: newId(`fallback ${ri} sms ${m}`),
          channel: 'Sms',
          destination: m,
          sender: t.senderNumber,
          subject: null,
          body: text(t.body, r),
          html: false,
          sendingTimePolicy: order.sendingTimePolicy,
        }))
      : r.emailAddresses.map((a) => ({
          notificationId: newId(`fallback ${ri} email ${a}`),
          channel: 'Email',
          destination: a,
          sender: e.fromAddress,
          subject: text(e.subject, r),
          body: text(e.body, r),
          html: e.contentType === 'Html',
          sendingTimePolicy: 'Anytime',
        }));
  return { group: `r${ri}`, members, notifications };
}
