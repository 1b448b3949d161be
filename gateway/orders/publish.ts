import type { PlainProducer } from '../../platform/kafka/adapter.ts';
import type { Logger } from '../../platform/logger.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { topicName } from '../../platform/topics.ts';
import type { ViewStore } from '../../platform/view/store.ts';

export interface OrderPublisherDeps {
  producer: Pick<PlainProducer, 'send'>;
  codec: AvroCodec;
  topicPrefix: string;
  view: ViewStore;
  log: Logger;
}

/** Orders onto the orders topic (acks=all), and into the status view for read-your-writes. */
export function orderPublisher(d: OrderPublisherDeps) {
  return {
    async publish(records: NotificationOrder[]): Promise<void> {
      const topic = topicName(d.topicPrefix, 'orders');
      const encoded = await Promise.all(
        records.map(async (o) => ({ topic, key: o.orderId, value: await d.codec.encode('orders', o) })),
      );
      await d.producer.send(encoded);
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
