import type { NoAltinnNotifications, NotificationOrder } from '../../platform/schemas/generated/order.ts';

import { chainIdOf, mainOrderId, nameUuid } from '../../platform/ids.ts';

export { nameUuid };

type Recipient = NoAltinnNotifications.Recipient;
import { normaliseMobileNumber, normaliseSubject } from '../../platform/validation/rules.ts';
import type { ComposedEmailRequest } from '../validation/composed-email.ts';
import type { EmailSettings, OrderChainRequest, RecipientSpec, SmsSettings } from '../validation/order-chain.ts';

const DAY_MS = 24 * 3600 * 1000;
export interface Defaults {
  emailFrom: string;
  smsSender: string;
}

const recipientOf = (r: Partial<Recipient>): Recipient => ({
  nationalIdentityNumber: null,
  organizationNumber: null,
  externalIdentity: null,
  emailAddress: null,
  mobileNumber: null,
  isReserved: null,
  ...r,
});

export const emailTemplate = (s: EmailSettings, d: Defaults): NotificationOrder['emailTemplate'] => ({
  fromAddress: s.senderEmailAddress ?? d.emailFrom,
  subject: normaliseSubject(s.subject),
  body: s.body,
  contentType: s.contentType,
});

export const smsTemplate = (s: SmsSettings, d: Defaults): NotificationOrder['smsTemplate'] => ({
  senderNumber: s.sender ?? d.smsSender,
  body: s.body,
});

/** The order fields a v2 recipient decides. */
function recipientFields(
  spec: RecipientSpec,
  creator: string,
  d: Defaults,
): Pick<
  NotificationOrder,
  | 'notificationChannel'
  | 'sendingTimePolicy'
  | 'recipients'
  | 'emailTemplate'
  | 'smsTemplate'
  | 'ignoreReservation'
  | 'useStaleContactInformation'
  | 'resourceId'
  | 'resourceAction'
  | 'fallbackOnDeliveryFailure'
  | 'attachments'
> {
  const none = {
    ignoreReservation: false,
    useStaleContactInformation: false,
    resourceId: null,
    resourceAction: null,
    fallbackOnDeliveryFailure: null,
    attachments: null,
  };
  switch (spec.kind) {
    case 'email':
      return {
        ...none,
        notificationChannel: 'Email',
        sendingTimePolicy: 'Anytime',
        recipients: [recipientOf({ emailAddress: spec.emailAddress })],
        emailTemplate: emailTemplate(spec.emailSettings, d),
        smsTemplate: null,
      };
    case 'sms':
      return {
        ...none,
        notificationChannel: 'Sms',
        sendingTimePolicy: spec.smsSettings.sendingTimePolicy,
        recipients: [recipientOf({ mobileNumber: normaliseMobileNumber(spec.phoneNumber) })],
        emailTemplate: null,
        smsTemplate: smsTemplate(spec.smsSettings, d),
      };
    default: {
      const recipient =
        spec.kind === 'person'
          ? recipientOf({ nationalIdentityNumber: spec.nationalIdentityNumber })
          : spec.kind === 'organization'
            ? recipientOf({ organizationNumber: spec.orgNumber })
            : recipientOf({ externalIdentity: spec.externalIdentity });
      return {
        notificationChannel: spec.channelSchema,
        sendingTimePolicy: spec.smsSettings?.sendingTimePolicy ?? 'Anytime',
        recipients: [recipient],
        emailTemplate: spec.emailSettings ? emailTemplate(spec.emailSettings, d) : null,
        smsTemplate: spec.smsSettings ? smsTemplate(spec.smsSettings, d) : null,
        ignoreReservation: spec.kind === 'person' ? spec.ignoreReservation : false,
        // The reference forces stale contact information for the tax administration (creator skd).
        useStaleContactInformation:
          spec.kind === 'person' ? spec.useStaleContactInformation || creator === 'skd' : false,
        resourceId: spec.resourceId,
        resourceAction: spec.resourceAction,
        fallbackOnDeliveryFailure: spec.fallbackOnDeliveryFailure,
        attachments: null,
      };
    }
  }
}

export interface ChainIds {
  chainId: string;
  mainId: string;
  reminderIds: string[];
}

/**
 * Ids of an order chain, derived from (creator, idempotencyId): a retry of a request whose
 * answer was lost produces the very same records, which every consumer already de-duplicates
 * by order id, so no retry or race can create a second chain.
 */
export function chainIds(creator: string, idempotencyId: string, reminders: number): ChainIds {
  const chainId = chainIdOf(creator, idempotencyId);
  return {
    chainId,
    mainId: mainOrderId(chainId),
    reminderIds: Array.from({ length: reminders }, (_, i) => reminderOrderId(chainId, i)),
  };
}

/** The id of an order chain's reminder number `i` (from 0). */
export function reminderOrderId(chainId: string, i: number): string {
  return nameUuid(`${chainId}\nreminder\n${i}`);
}

/** The order records of a v2 order chain: the main notification, then each reminder. */
export function chainOrders(req: OrderChainRequest, creator: string, now: number, d: Defaults): NotificationOrder[] {
  const ids = chainIds(creator, req.idempotencyId, req.reminders.length);
  const common = {
    orderChainId: ids.chainId,
    creator,
    idempotencyId: req.idempotencyId,
    created: now,
    timeToLiveSeconds: null,
    dialogportenAssociation: req.dialogportenAssociation,
  };
  const main: NotificationOrder = {
    ...common,
    orderId: ids.mainId,
    type: 'Notification',
    sendersReference: req.sendersReference,
    requestedSendTime: req.requestedSendTime,
    conditionEndpoint: req.conditionEndpoint,
    ...recipientFields(req.recipient, creator, d),
  };
  const reminders = req.reminders.map((r, i): NotificationOrder => ({
    ...common,
    orderId: ids.reminderIds[i]!,
    type: 'Reminder',
    sendersReference: r.sendersReference,
    requestedSendTime: r.requestedSendTime ?? req.requestedSendTime + (r.delayDays ?? 0) * DAY_MS,
    conditionEndpoint: r.conditionEndpoint,
    ...recipientFields(r.recipient, creator, d),
  }));
  return [main, ...reminders];
}

/** The 201/200 body of `POST /future/orders`. */
export function chainResponse(orders: NotificationOrder[]) {
  const [main, ...reminders] = orders;
  return {
    notificationOrderId: main!.orderChainId,
    notification: {
      shipmentId: main!.orderId,
      ...(main!.sendersReference !== null ? { sendersReference: main!.sendersReference } : {}),
      ...(reminders.length > 0
        ? {
            reminders: reminders.map((r) => ({
              shipmentId: r.orderId,
              ...(r.sendersReference !== null ? { sendersReference: r.sendersReference } : {}),
            })),
          }
        : {}),
    },
  };
}

export { recipientOf };

/** The order record of a composed email (`POST /future/orders/composed-email`): one order of type Composed, with its files. */
export function composedOrder(req: ComposedEmailRequest, creator: string, now: number, d: Defaults): NotificationOrder {
  const [order] = chainOrders({ ...req, reminders: [] }, creator, now, d);
  return { ...order!, type: 'Composed', attachments: req.attachments };
}
