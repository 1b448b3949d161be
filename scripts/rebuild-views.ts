/**
 * Rebuilds the status view (the read model behind the API) from the topics:
 *
 *   ./dev rebuild-views      (stops the stages, runs this, starts them again)
 *
 * It deletes every view key, then applies the orders topic and the status topic again, each up
 * to the offsets its stage (order-view, status-view) has committed, so the view is exactly what
 * the stages had built; whatever comes after those offsets the stages apply when they start.
 * Orders the status view would have completed are not completed here: the status-view stage
 * does that for the events it has not yet committed. Idempotency keys are not part of the view
 * and stay as they are. Reads the stack's environment (KAFKA_BROKERS, SCHEMA_REGISTRY_URL,
 * REDIS_URL, TOPIC_PREFIX, REDIS_PREFIX).
 */
import type { InboundRecord } from '../platform/kafka/adapter.ts';
import { orderIdentityProblems } from '../platform/validation/order-record.ts';
import { topicName } from '../platform/topics.ts';
import { ViewStore } from '../platform/view/store.ts';
import { rebuildClients } from './rebuild-clients.ts';

const { config, kafka, codec, redis, close } = rebuildClients();
const view = new ViewStore(redis, config.REDIS_PREFIX ?? config.TOPIC_PREFIX, config.VIEW_RETENTION_S * 1000);

/** Records of `topic` below the offsets `stage` committed, in partition order. */
async function committedRecords(topic: string, stage: string): Promise<InboundRecord[]> {
  const groupId = `${config.TOPIC_PREFIX}notifications.${stage}`;
  const partitions = [...(await kafka.topicEndOffsets(topic)).keys()];
  const limits = new Map<number, bigint>();
  for (const p of partitions) limits.set(p, BigInt((await kafka.committedOffset(groupId, topic, p)) ?? '0'));
  const out: InboundRecord[] = [];
  await kafka.readSince(topic, 0, (r) => {
    if (BigInt(r.offset) < (limits.get(r.partition) ?? 0n)) out.push(r);
  });
  return out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

const removed = await view.clear();
let orders = 0;
for (const r of await committedRecords(topicName(config.TOPIC_PREFIX, 'orders'), 'order-view')) {
  const order = await codec.decode('orders', r.value);
  if (orderIdentityProblems(order).length > 0) continue;
  await view.putOrder(order);
  orders++;
}
let events = 0;
for (const r of await committedRecords(topicName(config.TOPIC_PREFIX, 'status'), 'status-view')) {
  const e = await codec.decode('status', r.value);
  await view.apply(e, Number(r.timestamp));
  events++;
}
console.log(`view rebuilt: ${removed} keys removed, ${orders} orders and ${events} status events applied`);
await close();
