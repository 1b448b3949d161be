import type { KafkaAdapter, PlainProducer } from '../../platform/kafka/adapter.ts';
import { missingOnTopics } from '../../platform/kafka/transactional-sink.ts';
import type { Logger } from '../../platform/logger.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { topicName } from '../../platform/topics.ts';
import type { ViewStore } from '../../platform/view/store.ts';
import { writtenByGoneHolder } from './claim.ts';

export interface OrderPublisherDeps {
  producer: Pick<PlainProducer, 'send'>;
  /** reads the orders topic, for a takeover to learn whether a gone holder wrote its orders */
  reader: Pick<KafkaAdapter, 'readSince'>;
  codec: AvroCodec;
  topicPrefix: string;
  view: ViewStore;
  log: Logger;
}

/** Orders onto the orders topic (acks=all), and into the status view for read-your-writes. */
export function orderPublisher(d: OrderPublisherDeps) {
  const topic = topicName(d.topicPrefix, 'orders');
  const encode = (records: NotificationOrder[]) =>
    Promise.all(records.map(async (o) => ({ topic, key: o.orderId, value: await d.codec.encode('orders', o) })));
  return {
    async publish(records: NotificationOrder[]): Promise<void> {
      await d.producer.send(await encode(records));
    },
    /**
     * A claim's orders, taken over from a holder gone before it answered: written unless the
     * holder wrote them, as read on the orders topic from their time (within TAKEOVER_READ_MS;
     * see `writtenByGoneHolder`), so a retry after a gateway's death does not put them there
     * twice. The holder's producer is not transactional, so nothing fences it: one only paused
     * past its lease that writes after the read is not seen, and the schedule store, which
     * takes an order id once, keeps that second copy from being sent.
     */
    async takeOver(records: NotificationOrder[]): Promise<void> {
      const encoded = await encode(records);
      const since = Math.min(...records.map((o) => o.created));
      const read = (signal: AbortSignal) =>
        missingOnTopics(d.reader, encoded, since, new Set([topic]), signal).then((missing) => missing === 0);
      if (!(await writtenByGoneHolder(read, d.log, 'order'))) await d.producer.send(encoded);
    },
    /** The orders readable at once; order-view writes the same (first wins). Never fails. */
    async remember(records: NotificationOrder[], now: number): Promise<void> {
      try {
        await Promise.all(records.map((o) => d.view.putOrder(o, { status: 'Order_Registered', at: now })));
      } catch (err) {
        d.log.warn({ err }, 'status view not updated at order time; order-view will catch up');
      }
    },
  };
}

export type OrderPublisher = ReturnType<typeof orderPublisher>;
