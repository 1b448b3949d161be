import type { EmailNotification } from '../../platform/schemas/generated/email-notification.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import { normaliseMobileNumber } from '../../platform/validation/rules.ts';
import type { InstantRequest } from '../validation/instant.ts';
import { chainIds, emailTemplate, nameUuid, recipientOf, smsTemplate, type Defaults } from './map.ts';

const HOURS_48 = 48 * 3600 * 1000;

export interface InstantDispatch {
  order: NotificationOrder;
  notification: { topic: 'smsQueue'; value: SmsNotification } | { topic: 'emailQueue'; value: EmailNotification };
  statuses: StatusEvent[];
  response: { notificationOrderId: string; notification: { shipmentId: string; sendersReference?: string } };
}

/**
 * An instant order as the records the gateway writes in one Kafka transaction: the order
 * (type Instant, which the scheduler passes by), its one notification straight onto the send
 * queue (no schedule, no send window), and their status events. Ids derive from (creator,
 * idempotencyId), as for order chains.
 */
export function instantDispatch(req: InstantRequest, creator: string, now: number, d: Defaults): InstantDispatch {
  const ids = chainIds(creator, req.idempotencyId, 0);
  const notificationId = nameUuid(`${ids.mainId}\nnotification`);
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
  };
  const order = { orderId: ids.mainId, creator };
  const response = {
    notificationOrderId: ids.chainId,
    notification: {
      shipmentId: ids.mainId,
      ...(req.sendersReference !== null ? { sendersReference: req.sendersReference } : {}),
    },
  };
  if (req.kind === 'sms') {
    const recipient = normaliseMobileNumber(req.phoneNumber);
    const template = smsTemplate(req.smsSettings, d)!;
    return {
      order: {
        ...base,
        notificationChannel: 'Sms',
        sendingTimePolicy: 'Anytime',
        timeToLiveSeconds: req.timeToLiveInSeconds,
        emailTemplate: null,
        smsTemplate: template,
        recipients: [recipientOf({ mobileNumber: recipient })],
      },
      notification: {
        topic: 'smsQueue',
        value: {
          notificationId,
          orderId: ids.mainId,
          creator,
          sender: template.senderNumber,
          recipient,
          body: template.body,
          sendingTimePolicy: 'Anytime',
          requestedSendTime: now,
          expiry: now + req.timeToLiveInSeconds * 1000,
        },
      },
      statuses: [
        {
          ...orderStatus(order, 'SMS_New', now),
          notificationId,
          channel: 'Sms',
          destination: recipient,
          expiresAt: now + req.timeToLiveInSeconds * 1000,
        },
        orderStatus(order, 'Order_Processed', now),
      ],
      response,
    };
  }
  const template = emailTemplate(req.emailSettings, d)!;
  return {
    order: {
      ...base,
      notificationChannel: 'Email',
      sendingTimePolicy: 'Anytime',
      timeToLiveSeconds: null,
      emailTemplate: template,
      smsTemplate: null,
      recipients: [recipientOf({ emailAddress: req.emailAddress })],
    },
    notification: {
      topic: 'emailQueue',
      value: {
        notificationId,
        orderId: ids.mainId,
        creator,
        fromAddress: template.fromAddress,
        toAddress: req.emailAddress,
        subject: template.subject,
        body: template.body,
        contentType: template.contentType,
        requestedSendTime: now,
        expiry: now + HOURS_48,
      },
    },
    statuses: [
      {
        ...orderStatus(order, 'Email_New', now),
        notificationId,
        channel: 'Email',
        destination: req.emailAddress,
        expiresAt: now + HOURS_48,
      },
      orderStatus(order, 'Order_Processed', now),
    ],
    response,
  };
}
