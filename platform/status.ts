import { randomUUID } from 'node:crypto';
import type { StatusEvent } from './schemas/generated/status-event.ts';

/** An order-level status event (no notification, channel or destination). */
export function orderStatus(
  order: { orderId: string; creator: string },
  status: StatusEvent['status'],
  occurredAt: number,
  description: string | null = null,
): StatusEvent {
  return {
    eventId: randomUUID(),
    orderId: order.orderId,
    creator: order.creator,
    notificationId: null,
    channel: null,
    destination: null,
    status,
    description,
    gatewayReference: null,
    occurredAt,
    expiresAt: null,
    fallback: null,
    recipientNationalIdentityNumber: null,
    recipientOrganizationNumber: null,
    requestedSendTime: null,
    smsCount: null,
    customBodyLength: null,
  };
}
