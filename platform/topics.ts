import type { DeadLetter } from './schemas/generated/dead-letter.ts';
import type { EmailNotification } from './schemas/generated/email-notification.ts';
import type { EnrichedOrder } from './schemas/generated/enriched-order.ts';
import type { NotificationOrder } from './schemas/generated/order.ts';
import type { SmsNotification } from './schemas/generated/sms-notification.ts';
import type { StatusEvent } from './schemas/generated/status-event.ts';

const DAY = 24 * 3600 * 1000;

/**
 * Every topic of the pipeline: its name (before the environment prefix), its value schema
 * (a file in schemas/), its key and how long it keeps records. Topics that are the source of
 * truth for rebuilding Redis (orders, status) keep records far longer than working topics.
 */
export const TOPICS = {
  orders: { name: 'altinn.notifications.orders', schema: 'order', key: 'orderId', retentionMs: 365 * DAY },
  ordersDue: { name: 'altinn.notifications.orders.due', schema: 'order', key: 'orderId', retentionMs: 7 * DAY },
  ordersEnriched: {
    name: 'altinn.notifications.orders.enriched',
    schema: 'enriched-order',
    key: 'orderId',
    retentionMs: 7 * DAY,
  },
  ordersApproved: {
    name: 'altinn.notifications.orders.approved',
    schema: 'enriched-order',
    key: 'orderId',
    retentionMs: 7 * DAY,
  },
  emailQueue: {
    name: 'altinn.notifications.email.queue',
    schema: 'email-notification',
    key: 'notificationId',
    retentionMs: 7 * DAY,
  },
  smsPending: {
    name: 'altinn.notifications.sms.pending',
    schema: 'sms-notification',
    key: 'notificationId',
    retentionMs: 7 * DAY,
  },
  smsQueue: {
    name: 'altinn.notifications.sms.queue',
    schema: 'sms-notification',
    key: 'notificationId',
    retentionMs: 7 * DAY,
  },
  // Instant notifications' own lane: the senders read these beside their queues, in consumer
  // groups of their own, so an instant one never waits behind a campaign queued there.
  emailInstant: {
    name: 'altinn.notifications.email.instant',
    schema: 'email-notification',
    key: 'notificationId',
    retentionMs: 7 * DAY,
  },
  smsInstant: {
    name: 'altinn.notifications.sms.instant',
    schema: 'sms-notification',
    key: 'notificationId',
    retentionMs: 7 * DAY,
  },
  // Composed emails (with files) have a lane of their own in send-email: fetching files takes
  // time that must not hold up the queue's plain emails.
  emailComposed: {
    name: 'altinn.notifications.email.composed',
    schema: 'email-notification',
    key: 'notificationId',
    retentionMs: 7 * DAY,
  },
  // A composed email whose files' storage could not answer waits here, each record
  // ATTACHMENT_RETRY_DELAY_MS after it was written, for its next try (send-email.composed-retry):
  // every record behind it was written later, so waiting for the first holds up none that is due.
  emailComposedRetry: {
    name: 'altinn.notifications.email.composed.retry',
    schema: 'email-notification',
    key: 'notificationId',
    retentionMs: 7 * DAY,
  },
  status: { name: 'altinn.notifications.status', schema: 'status-event', key: 'orderId', retentionMs: 365 * DAY },
  deadLetter: {
    name: 'altinn.notifications.deadletter',
    schema: 'dead-letter',
    key: 'original key',
    retentionMs: 30 * DAY,
  },
} as const;

export type TopicKey = keyof typeof TOPICS;

/** The TypeScript type of each topic's values, derived from its Avro schema. */
export interface TopicValues {
  orders: NotificationOrder;
  ordersDue: NotificationOrder;
  ordersEnriched: EnrichedOrder;
  ordersApproved: EnrichedOrder;
  emailQueue: EmailNotification;
  smsPending: SmsNotification;
  smsQueue: SmsNotification;
  emailInstant: EmailNotification;
  emailComposed: EmailNotification;
  emailComposedRetry: EmailNotification;
  smsInstant: SmsNotification;
  status: StatusEvent;
  deadLetter: DeadLetter;
}

export const topicName = (prefix: string, key: TopicKey) => `${prefix}${TOPICS[key].name}`;
