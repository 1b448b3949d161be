import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionForKey } from '../../platform/kafka/partitioner.ts';
import { provision } from '../../platform/provision.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import type { DeadLetter } from '../../platform/schemas/generated/dead-letter.ts';
import { topicName } from '../../platform/topics.ts';
import { ViewStore } from '../../platform/view/store.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import {
  eventually,
  sampleOrder,
  stageEnv,
  stackEnv,
  testClients,
  testConfig,
  uniquePrefix,
  testRedis,
} from '../support/stack.ts';

const run = promisify(execFile);
const PRODUCER = join(import.meta.dirname, '..', '..', 'examples', 'python-producer', 'producer.py');

/**
 * An outside system publishing orders with the example Python producer (confluent-kafka and its
 * Avro serializer, `examples/python-producer/`): what it publishes is handled as the gateway's
 * orders are, and what the pipeline cannot take is refused with a reason, never dropped silently.
 */
describe('direct producers (the Python example)', () => {
  const env = stackEnv();
  const python = process.env.PY_PRODUCER_PYTHON;
  const prefix = uniquePrefix('pyprod');
  const config = testConfig(prefix);
  const { kafka, codec } = testClients(config);
  const redis = testRedis();
  const view = new ViewStore(redis, prefix);
  let proc: StageProcess | null = null;

  beforeAll(async () => {
    if (!python) throw new Error('PY_PRODUCER_PYTHON is unset: run the tests with ./dev test');
    await provision(kafka, codec, config);
    proc = startStageProcess(['scheduler', 'order-view'], { ...stageEnv(config), SCHEDULER_POLL_MS: '50' });
    await proc.running;
  });
  afterAll(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    await kafka.close();
    redis.disconnect();
  });

  const produce = async (order: unknown) => {
    const child = run(python!, [PRODUCER, '--order', '-'], {
      env: {
        ...process.env,
        KAFKA_BROKERS: env.KAFKA_BROKERS,
        SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL,
        TOPIC_PREFIX: prefix,
      },
      timeout: 60_000,
    });
    child.child.stdin!.end(JSON.stringify(order));
    const { stdout } = await child;
    return JSON.parse(stdout) as { topic: string; partition: number; offset: number };
  };
  const read = async <T>(topic: 'status' | 'deadLetter' | 'ordersDue') => {
    const raw: Buffer[] = [];
    await kafka.readSince(topicName(prefix, topic), 0, (r) => void raw.push(r.value!));
    return Promise.all(raw.map((b) => codec.decode(topic, b))) as Promise<T[]>;
  };

  it('publishes an order the pipeline takes as its own, on the partition murmur2 gives its key', async () => {
    const order = sampleOrder(1, { requestedSendTime: Date.now() });
    const delivered = await produce(order);
    expect(delivered.topic).toBe(topicName(prefix, 'orders'));
    expect(delivered.partition).toBe(partitionForKey(order.orderId, config.TOPIC_PARTITIONS));
    await eventually(
      async () => (await read<NotificationOrder>('ordersDue')).some((o) => o.orderId === order.orderId),
      'the order released to orders.due',
    );
    const events = (await read<StatusEvent>('status')).filter((e) => e.orderId === order.orderId);
    expect(events.map((e) => e.status)).toEqual(['Order_Registered', 'Order_Processing']);
    expect((await view.get(order.orderId, 'ttd'))?.order.recipients[0]?.emailAddress).toBe('user1@example.com');
  });

  it('refuses an instant order that did not come through the gateway: dead letter and Order_Rejected', async () => {
    const order = sampleOrder(2, { type: 'Instant', requestedSendTime: Date.now() });
    await produce(order);
    await eventually(
      async () => (await read<StatusEvent>('status')).some((e) => e.orderId === order.orderId),
      'the instant order to be refused',
    );
    const event = (await read<StatusEvent>('status')).find((e) => e.orderId === order.orderId)!;
    expect(event).toMatchObject({ status: 'Order_Rejected' });
    expect(event.description).toMatch(/instant orders are placed through the gateway/);
    const letter = (await read<DeadLetter>('deadLetter')).find((d) => d.originalKey?.toString() === order.orderId)!;
    expect(letter).toMatchObject({ stage: 'scheduler', errorCode: 'INVALID_RECORD' });
    expect((await read<NotificationOrder>('ordersDue')).some((o) => o.orderId === order.orderId)).toBe(false);
  });

  it('refuses an order whose ids are not UUIDs before anything is written about it', async () => {
    const key = `order-${randomUUID().slice(0, 8)}`;
    const order = sampleOrder(3, { orderId: key, requestedSendTime: Date.now() });
    await produce(order);
    await eventually(
      async () => (await read<DeadLetter>('deadLetter')).some((d) => d.originalKey?.toString() === key),
      'the dead letter',
    );
    const letter = (await read<DeadLetter>('deadLetter')).find((d) => d.originalKey?.toString() === key)!;
    expect(letter.reason).toContain('orderId is not a lowercase canonical UUID');
    // a later record on the same partition is handled, so order-view has passed this one too
    let afterId = randomUUID();
    while (partitionForKey(afterId, config.TOPIC_PARTITIONS) !== partitionForKey(key, config.TOPIC_PARTITIONS))
      afterId = randomUUID();
    const after = sampleOrder(4, { orderId: afterId, requestedSendTime: Date.now() });
    await produce(after);
    await eventually(async () => (await view.get(after.orderId)) !== null, 'the next order in the view');
    expect((await read<StatusEvent>('status')).some((e) => e.orderId === key)).toBe(false);
    expect(await view.get(key)).toBeNull();
  });
});
