import type { NotificationOrder } from '../platform/schemas/generated/order.ts';
import type { DashboardEntry, DashboardKind, NotificationView, OrderView } from '../platform/view/store.ts';

/** Response bodies of the read endpoints (reference §3.2, §3.6), built from the status view. */

const iso = (ms: number): string => new Date(ms).toISOString();

/** Drops null and undefined members, as the reference API omits nulls. */
export function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as Partial<T>;
}

const ORDER_DESCRIPTIONS: Record<string, string> = {
  Registered: 'Order has been registered and is awaiting requested send time before processing.',
  Processing: 'Order processing is ongoing. Notifications are being generated.',
  Processed: 'Order processing is done. Notifications have been successfully generated.',
  Completed: 'Order processing is completed. All notifications have a final status.',
  SendConditionNotMet: 'Order processing was stopped due to send condition not being met.',
  Cancelled: 'Order processing was stopped due to order being cancelled.',
};

const EMAIL_DESCRIPTIONS: Record<string, string> = {
  New: 'The email has been created, but has not been picked up for processing yet.',
  Sending: 'The email is being processed and will be attempted sent shortly.',
  Succeeded: 'The email has been accepted by the third party email service and will be sent shortly.',
  Delivered:
    'The email was delivered to the recipient. No errors reported, making it likely it was received by the recipient.',
  Failed: 'The email was not sent due to an unspecified failure.',
  Failed_RecipientReserved:
    'The email was not sent because the recipient has reserved themselves from electronic communication.',
  Failed_RecipientNotIdentified: "The email was not sent because the recipient's email address was not found.",
  Failed_InvalidEmailFormat: 'The email was not sent because the recipient’s email address is in an invalid format.',
  Failed_SupressedRecipient:
    'The email was not sent because the recipient’s email address is suppressed by the third party email service.',
  Failed_TransientError: 'The email was not sent due to a transient error. We will retry sending the email.',
  Failed_Bounced:
    'The email hard bounced, which may have happened because the email address does not exist or the domain is invalid.',
  Failed_FilteredSpam: 'The email was was identified as spam, and was rejected or blocked (not quarantined).',
  Failed_Quarantined: 'The email was quarantined (as spam, bulk mail, or phising).',
  Failed_TTL: 'The email was sent, but no delivery report arrived before it expired.',
  Failed_InvalidSasUrl: 'The email was not sent because an attachment could not be fetched from its SAS URL.',
  Failed_PayloadTooLarge: 'The email was not sent because it was too large for the email service.',
};

const SMS_DESCRIPTIONS: Record<string, string> = {
  New: 'The SMS has been created, but has not been picked up for processing yet.',
  Sending: 'The SMS is being processed and will be attempted sent shortly.',
  Accepted: 'The SMS has been accepted by the gateway service and will be sent shortly.',
  Delivered: 'The SMS was successfully delivered to its destination.',
  Failed: 'The SMS was not delivered due to an unspecified failure.',
  Failed_InvalidRecipient: "The SMS was not delivered because the recipient's mobile number was invalid.",
  Failed_RecipientReserved:
    'The SMS was not sent because the recipient has reserved themselves from electronic communication.',
  Failed_BarredReceiver: "The SMS was not delivered because the recipient's number is barred, blocked or not in use.",
  Failed_Deleted: 'The SMS was not delivered because the message has been deleted.',
  Failed_Expired: 'The SMS was not delivered because it has expired.',
  Failed_Undelivered: 'The SMS was not delivered due to invalid number or no available route to destination.',
  Failed_RecipientNotIdentified: "The SMS was not delivered because the recipient's mobile number was not found.",
  Failed_Rejected: 'The SMS was not delivered because it was rejected.',
  Failed_TTL: 'The SMS was accepted, but no delivery report arrived before it expired.',
};

/** A pipeline lifecycle value as the v1 API names the result (EmailNotificationResultType …). */
export function v1Result(status: string): string {
  if (status === 'Email_Failed_InvalidFormat') return 'Failed_InvalidEmailFormat';
  if (status === 'Email_Failed_SuppressedRecipient') return 'Failed_SupressedRecipient';
  return status.replace(/^(Email|SMS)_/, '');
}

const isSucceeded = (n: NotificationView): boolean =>
  ['Email_Succeeded', 'Email_Delivered', 'SMS_Accepted', 'SMS_Delivered'].includes(n.status);

export interface Links {
  base: string;
}

const orderLink = (l: Links, id: string) => `${l.base}/notifications/api/v1/orders/${id}`;

function recipientsExt(order: NotificationOrder) {
  return order.recipients.map((r) =>
    compact({
      emailAddress: r.emailAddress,
      mobileNumber: r.mobileNumber,
      organizationNumber: r.organizationNumber,
      nationalIdentityNumber: r.nationalIdentityNumber,
      isReserved: r.isReserved,
    }),
  );
}

/** NotificationOrderExt */
export function orderExt(v: OrderView, l: Links) {
  const o = v.order;
  return compact({
    id: o.orderId,
    sendersReference: o.sendersReference,
    requestedSendTime: iso(o.requestedSendTime),
    creator: o.creator,
    created: iso(o.created),
    notificationChannel: o.notificationChannel,
    ignoreReservation: o.ignoreReservation,
    resourceId: o.resourceId,
    resourceAction: o.resourceAction,
    conditionEndpoint: o.conditionEndpoint,
    recipients: recipientsExt(o),
    emailTemplate: o.emailTemplate ?? null,
    smsTemplate: o.smsTemplate ?? null,
    links: { self: orderLink(l, o.orderId), status: `${orderLink(l, o.orderId)}/status` },
  });
}

/** NotificationOrderWithStatusExt */
export function orderWithStatusExt(v: OrderView, l: Links) {
  const status = v.status.replace(/^Order_/, '');
  const summary = (channel: 'Email' | 'Sms') => {
    const list = v.notifications.filter((n) => n.channel === channel);
    if (list.length === 0) return null;
    return {
      links: { self: `${orderLink(l, v.order.orderId)}/notifications/${channel === 'Email' ? 'email' : 'sms'}` },
      generated: list.length,
      succeeded: list.filter(isSucceeded).length,
    };
  };
  const { links: _links, ...base } = orderExt(v, l);
  return compact({
    ...base,
    processingStatus: compact({
      status,
      description: ORDER_DESCRIPTIONS[status] ?? v.description,
      lastUpdate: iso(v.statusAt),
    }),
    notificationsStatusSummary: compact({ email: summary('Email'), sms: summary('Sms') }),
  });
}

/** EmailNotificationSummaryExt / SmsNotificationSummaryExt */
export function notificationSummaryExt(v: OrderView, channel: 'Email' | 'Sms') {
  const list = v.notifications.filter((n) => n.channel === channel);
  const descriptions = channel === 'Email' ? EMAIL_DESCRIPTIONS : SMS_DESCRIPTIONS;
  return compact({
    orderId: v.order.orderId,
    sendersReference: v.order.sendersReference,
    generated: list.length,
    succeeded: list.filter(isSucceeded).length,
    notifications: list.map((n) => {
      const result = v1Result(n.status);
      return {
        id: n.id,
        succeeded: isSucceeded(n),
        recipient: compact(channel === 'Email' ? { emailAddress: n.destination } : { mobileNumber: n.destination }),
        sendStatus: compact({
          status: result,
          description: descriptions[result] ?? null,
          lastUpdate: iso(n.lastUpdate),
        }),
      };
    }),
  });
}

/** NotificationDeliveryManifestExt (`GET /future/shipment/{id}`) */
export function shipmentExt(v: OrderView) {
  return compact({
    shipmentId: v.order.orderId,
    sendersReference: v.order.sendersReference,
    type: v.order.type,
    status: v.status,
    lastUpdate: iso(Math.max(v.order.created, v.processedAt ?? 0)),
    recipients: v.notifications.map((n) =>
      compact({
        type: n.channel === 'Email' ? 'Email' : 'SMS',
        destination: n.destination,
        status: n.status,
        lastUpdate: iso(n.lastUpdate),
      }),
    ),
  });
}

/** One status feed entry: the shipment and its sequence number. */
export const feedEntryExt = (v: OrderView) => ({ ...shipmentExt(v), sequenceNumber: v.feedSeq ?? 0 });

/**
 * An order chain (`GET /orders/chain/{id}`, the `Location` of a new chain; the reference names
 * this path but answers nothing there): the chain's id, its main notification and its reminders,
 * each as its delivery manifest. `views` come main order first.
 */
export function chainExt(chainId: string, views: OrderView[]) {
  const main = views.find((v) => v.order.type !== 'Reminder');
  return {
    notificationOrderId: chainId,
    ...(main ? { notification: shipmentExt(main) } : {}),
    reminders: views.filter((v) => v !== main).map(shipmentExt),
  };
}

/**
 * DashboardNotificationExt (`GET /future/dashboard/recipients/notifications/…`): an order and
 * its notifications for the person or organisation looked up, each a delivery attempt with the
 * number it was looked up by, its address and its result as the notifications' tables name it.
 */
export function dashboardExt(e: DashboardEntry, by: { kind: DashboardKind; value: string }) {
  const o = e.view.order;
  return compact({
    shipmentId: o.orderId,
    creatorName: o.creator,
    resourceId: o.resourceId,
    sendersReference: o.sendersReference,
    requestedSendTime: iso(o.requestedSendTime),
    notificationChannel: o.notificationChannel,
    notificationType: o.type,
    deliveryAttempts: e.notifications.map((n) =>
      compact({
        nationalIdentityNumber: by.kind === 'nin' ? by.value : null,
        organizationNumber: by.kind === 'org' ? by.value : null,
        channel: n.channel === 'Email' ? 'email' : 'sms',
        emailAddress: n.channel === 'Email' ? n.destination : null,
        mobileNumber: n.channel === 'Sms' ? n.destination : null,
        result: v1Result(n.status),
        resultTime: iso(n.lastUpdate),
      }),
    ),
  });
}
