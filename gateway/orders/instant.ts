import type { EmailNotification } from '../../platform/schemas/generated/email-notification.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { resolveNotifications } from '../../platform/notifications/resolve.ts';
import { DEFAULT_WINDOW } from '../../platform/notifications/window.ts';
import { normaliseMobileNumber } from '../../platform/validation/rules.ts';
import type { InstantRequest } from '../validation/instant.ts';
import { chainIds, emailTemplate, nameUuid, recipientOf, smsTemplate, type Defaults } from './map.ts';

export interface InstantDispatch {
  order: NotificationOrder;
  notification: { topic: 'smsInstant'; value: SmsNotification } | { topic: 'emailInstant'; value: EmailNotification };
  statuses: StatusEvent[];
  response: { notificationOrderId: string; notification: { shipmentId: string; sendersReference?: string } };
}

/**
 * An instant order as the records the gateway writes in one Kafka transaction: the order
 * (type Instant, which the scheduler passes by), its one notification straight onto the
 * sender's instant lane (no schedule, no send window, no campaign queued ahead of it), and their
 * status events. Ids derive from (creator,
 * idempotencyId), as for order chains.
 */
export function instantDispatch(req: InstantRequest, creator: string, now: number, d: Defaults): InstantDispatch {
  const ids = chainIds(creator, req.idempotencyId, 0);
  const base = {
    orderId: ids.mainId,
    orderChainId: ids.chainId,
    type: 'Instant' as const,
    creator,
    idempotencyId: req.idempotencyId,
    sendersReference: req.sendersReference,
    requestedSendTime: now,
    created: now,
    conditionEndpoint: null,
    ignoreReservation: false,
    useStaleContactInformation: false,
    resourceId: null,
    resourceAction: null,
    dialogportenAssociation: null,
    fallbackOnDeliveryFailure: null,
    attachments: null,
  };
  const sms = req.kind === 'sms';
  const address = sms ? normaliseMobileNumber(req.phoneNumber) : req.emailAddress;
  const order: NotificationOrder = sms
    ? {
        ...base,
        notificationChannel: 'Sms',
        sendingTimePolicy: 'Anytime',
        timeToLiveSeconds: req.timeToLiveInSeconds,
        emailTemplate: null,
        smsTemplate: smsTemplate(req.smsSettings, d),
        recipients: [recipientOf({ mobileNumber: address })],
      }
    : {
        ...base,
        notificationChannel: 'Email',
        sendingTimePolicy: 'Anytime',
        timeToLiveSeconds: null,
        emailTemplate: emailTemplate(req.emailSettings, d),
        smsTemplate: null,
        recipients: [recipientOf({ emailAddress: address })],
      };
  // The same channel decision as resolve-channel's, for the one address given: an instant SMS
  // expires after its time to live, an instant email after 48 h; the text is sent as given.
  const resolved = resolveNotifications(
    order,
    [
      {
        nationalIdentityNumber: null,
        organizationNumber: null,
        externalIdentity: null,
        name: null,
        isReserved: false,
        emailAddresses: sms ? [] : [address],
        mobileNumbers: sms ? [address] : [],
        userRegistered: false,
      },
    ],
    { now, window: DEFAULT_WINDOW, newId: (name) => nameUuid(`${ids.mainId}\n${name}`), keywords: false },
  );
  const notification: InstantDispatch['notification'] = sms
    ? { topic: 'smsInstant', value: resolved.sms[0]! }
    : { topic: 'emailInstant', value: resolved.emails[0]! };
  return {
    order,
    notification,
    statuses: resolved.statuses,
    response: {
      notificationOrderId: ids.chainId,
      notification: {
        shipmentId: ids.mainId,
        ...(req.sendersReference !== null ? { sendersReference: req.sendersReference } : {}),
      },
    },
  };
}
