/**
 * A direct producer: publishes one order onto the orders topic (Avro, Confluent wire format,
 * key = orderId), as systems inside the platform may, and optionally follows its status events.
 *
 *   node --import tsx scripts/send-order.ts --nin 02027012345 --channel SmsPreferred --in 10 --watch
 *   node --import tsx scripts/send-order.ts --file my-order.json --watch
 *
 * Reads the stack's environment (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, TOPIC_PREFIX). A JSON file
 * holds any fields of NotificationOrder (schemas/order.avsc); the rest get defaults.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../platform/config.ts';
import { KafkaAdapter, kafkaConnection } from '../platform/kafka/adapter.ts';
import { createLogger } from '../platform/logger.ts';
import { AvroCodec } from '../platform/schemas/codec.ts';
import type { NotificationOrder } from '../platform/schemas/generated/order.ts';
import { topicName } from '../platform/topics.ts';

const { values } = parseArgs({
  options: {
    file: { type: 'string' },
    nin: { type: 'string' },
    org: { type: 'string' },
    email: { type: 'string' },
    mobile: { type: 'string' },
    channel: { type: 'string', default: 'EmailPreferred' },
    in: { type: 'string', default: '0', short: 'i' },
    condition: { type: 'string' },
    watch: { type: 'boolean', default: false },
  },
});

const config = loadConfig({ ...process.env, LOG_LEVEL: 'error' });
const kafka = new KafkaAdapter({
  ...kafkaConnection(config),
  clientId: 'send-order',
  logger: createLogger({ level: 'error' }),
});
const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, config.TOPIC_PREFIX);
const now = Date.now();
const fromFile = values.file ? (JSON.parse(readFileSync(values.file, 'utf8')) as Partial<NotificationOrder>) : {};
const recipient = {
  nationalIdentityNumber: values.nin ?? null,
  organizationNumber: values.org ?? null,
  externalIdentity: null,
  emailAddress: values.email ?? null,
  mobileNumber: values.mobile ?? null,
  isReserved: null,
};
const order: NotificationOrder = {
  orderId: randomUUID(),
  orderChainId: randomUUID(),
  type: 'Notification',
  creator: 'ttd',
  idempotencyId: randomUUID(),
  sendersReference: 'send-order script',
  requestedSendTime: now + Number(values.in) * 1000,
  created: now,
  notificationChannel: values.channel as NotificationOrder['notificationChannel'],
  sendingTimePolicy: 'Anytime',
  conditionEndpoint: values.condition ?? null,
  ignoreReservation: false,
  useStaleContactInformation: false,
  resourceId: null,
  resourceAction: null,
  timeToLiveSeconds: null,
  fallbackOnDeliveryFailure: null,
  attachments: null,
  emailTemplate: {
    fromAddress: 'noreply@altinn.cloud',
    subject: 'Melding fra Altinn',
    body: 'Hei $recipientName$, du har en ny melding.',
    contentType: 'Plain',
  },
  smsTemplate: { senderNumber: 'Altinn', body: 'Hei $recipientName$, du har en ny melding i Altinn.' },
  recipients: [recipient],
  dialogportenAssociation: null,
  ...fromFile,
};

await codec.register(['orders', 'status']);
const producer = await kafka.plainProducer();
await producer.send([
  { topic: topicName(config.TOPIC_PREFIX, 'orders'), key: order.orderId, value: await codec.encode('orders', order) },
]);
await producer.close();
console.log(`order ${order.orderId} published; due ${new Date(order.requestedSendTime).toISOString()}`);

if (values.watch) {
  console.log('status events (Ctrl-C to stop):');
  await kafka.collect({
    groupId: `send-order-watch-${randomUUID()}`,
    topics: [topicName(config.TOPIC_PREFIX, 'status')],
    onRecord: (r) => {
      if (r.key?.toString() !== order.orderId) return;
      void codec
        .decode('status', r.value)
        .then((e) =>
          console.log(
            `  ${new Date(e.occurredAt).toISOString()}  ${e.status}${e.destination ? `  ${e.destination}` : ''}`,
          ),
        );
    },
  });
} else {
  await kafka.close();
}
