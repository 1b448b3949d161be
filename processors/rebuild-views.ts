import type { Config } from '../platform/config.ts';
import type { InboundRecord, KafkaAdapter } from '../platform/kafka/adapter.ts';
import type { Redis } from '../platform/redis/client.ts';
import type { AvroCodec } from '../platform/schemas/codec.ts';
import type { NotificationOrder } from '../platform/schemas/generated/order.ts';
import type { StatusEvent } from '../platform/schemas/generated/status-event.ts';
import { topicName, type TopicKey, type TopicValues } from '../platform/topics.ts';
import { orderIdentityProblems } from '../platform/validation/order-record.ts';
import { ViewStore } from '../platform/view/store.ts';
import { decodedAsStaged } from './rebuild-read.ts';
import { stageGroupId } from './runtime/runner.ts';

export interface ViewRebuildCounts {
  /** view keys deleted before the topics were applied again */
  removed: number;
  orders: number;
  events: number;
  /** records their stage skipped too: undecodable (dead-lettered), or orders whose ids are not canonical */
  skipped: { orders: number; status: number };
}

/** how many writes go to Redis in one round trip */
const CHUNK = 500;

/**
 * Rebuilds the status view (the read model behind the API) from the topics, for when Redis lost
 * it or its shape changes: every view key is deleted, then the orders topic and the status topic
 * are applied again, each up to the offsets its stage (order-view, status-view) has committed,
 * so the view is what the stages had built; what comes after those offsets the stages apply when
 * they start. A record its stage skipped is skipped here too. Orders the status view would have
 * completed are not completed here: status-view does that for the events it has not committed.
 * Idempotency keys are not part of the view and stay as they are.
 *
 * Both topics are read and decoded before anything is deleted, so a broker or schema registry
 * that fails the reading leaves the view as it was. A failure while applying leaves it partly
 * built: run it again (it starts from a clear view each time). Run it with the stages stopped
 * (`./dev rebuild-views` does).
 */
export async function rebuildViews(deps: {
  kafka: KafkaAdapter;
  codec: AvroCodec;
  redis: Redis;
  config: Config;
}): Promise<ViewRebuildCounts> {
  const { kafka, codec, config } = deps;
  // (the monthly metrics are kept as they are, not counted again: ViewStore.clear)
  const view = new ViewStore(
    deps.redis,
    config.REDIS_PREFIX ?? config.TOPIC_PREFIX,
    config.VIEW_RETENTION_S * 1000,
    false,
  );

  /** the values of `key`'s records below the offsets `stage` committed, in partition order, and how many were skipped */
  async function committed<K extends 'orders' | 'status'>(key: K & TopicKey, stage: string) {
    const topic = topicName(config.TOPIC_PREFIX, key);
    const groupId = stageGroupId(config.TOPIC_PREFIX, stage);
    const limits = new Map<number, bigint>();
    for (const p of (await kafka.topicEndOffsets(topic)).keys())
      limits.set(p, BigInt((await kafka.committedOffset(groupId, topic, p)) ?? '0'));
    const records: InboundRecord[] = [];
    await kafka.readSince(topic, 0, (r) => {
      if (BigInt(r.offset) < (limits.get(r.partition) ?? 0n)) records.push(r);
    });
    records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
    const values: { value: TopicValues[K]; record: InboundRecord }[] = [];
    let skipped = 0;
    for (const record of records) {
      const value = await decodedAsStaged(codec, key, record.value);
      if (value === undefined) skipped++;
      else values.push({ value, record });
    }
    return { values, skipped };
  }

  const orders = await committed('orders', 'order-view');
  const status = await committed('status', 'status-view');
  const valid = orders.values
    .map((o) => o.value as NotificationOrder)
    .filter((o) => orderIdentityProblems(o).length === 0);

  const removed = await view.clear();
  for (let i = 0; i < valid.length; i += CHUNK)
    await Promise.all(valid.slice(i, i + CHUNK).map((o) => view.putOrder(o)));
  // in topic order, each event at its record's time (its feed entry's time, as when first applied)
  for (let i = 0; i < status.values.length; i += CHUNK) {
    const events = status.values
      .slice(i, i + CHUNK)
      .map(({ value, record }) => ({ event: value as StatusEvent, source: '', at: Number(record.timestamp) }));
    const failed = (await view.applyAll(events, Date.now())).find((a) => a instanceof Error);
    if (failed) throw failed;
  }
  return {
    removed,
    orders: valid.length,
    events: status.values.length,
    skipped: { orders: orders.skipped + (orders.values.length - valid.length), status: status.skipped },
  };
}
