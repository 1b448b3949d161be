import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '../../platform/metrics.ts';
import type { Redis } from '../../platform/redis/client.ts';
import { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { topicName } from '../../platform/topics.ts';
import { Releaser } from '../../processors/runtime/releaser.ts';
import { emailChain, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { eventually, testClients, testRedis } from '../support/stack.ts';

/**
 * A cancellation the gateway could not finish (its replicas' wait refused it, its publish failed,
 * or it died) after the schedule took the order out: the caller is answered an error and nothing
 * is said of it yet, but the schedule keeps its Order_Cancelled event, and the scheduler's
 * releaser leader publishes it once the gateway has had its time (`announceAfterMs`), so the
 * order does not stay Registered for ever when the caller does not ask again.
 *
 * With REDIS_WAIT_REPLICAS, a cancellation is answered only once Redis's replicas hold it
 * (`ScheduleStore.cancel`; test/platform/schedule-replicas.test.ts shows what a failover does
 * without it). Too few in time: 503 NOT-00004. The test stack's Redis has no replica, so every
 * wait for one is short.
 */
async function cancelledEvents(g: TestGateway, id: string): Promise<StatusEvent[]> {
  const values: Buffer[] = [];
  await g.kafka.readSince(topicName(g.prefix, 'status'), 0, (rec) => void values.push(rec.value!));
  const statuses: StatusEvent[] = await Promise.all(values.map((v) => g.codec.decode('status', v)));
  return statuses.filter((e) => e.orderId === id && e.status === 'Order_Cancelled');
}

/** the scheduler's releaser of `g`'s schedule, leaving its gateway `announceAfterMs` */
function schedulerReleaser(g: TestGateway, announceAfterMs: number, replicas?: (redis: Redis) => ReplicaWait) {
  const redis = testRedis();
  const { kafka, logger } = testClients(g.config);
  const releaser = new Releaser(
    {
      store: new ScheduleStore(redis, `${g.prefix}orders:`, replicas?.(redis)),
      kafka,
      codec: g.codec,
      topicPrefix: g.prefix,
      clientId: 'test',
      logger,
      registry: createRegistry(false),
      clock: Date.now,
    },
    {
      name: 'scheduler',
      output: 'ordersDue',
      leaseMs: 5_000,
      batchSize: 100,
      pollMs: 50,
      leaderTtlMs: 3_000,
      passLeaseMs: 45_000,
      announceAfterMs,
    },
  );
  return {
    releaser,
    async close() {
      await releaser.close();
      await kafka.close();
      redis.disconnect();
    },
  };
}

/** a releaser that leaves the gateway no time, run until it has published `id`'s Order_Cancelled */
async function releasedCancellation(g: TestGateway, id: string, what: string) {
  const releaser = schedulerReleaser(g, 0);
  try {
    releaser.releaser.start();
    await eventually(async () => (await cancelledEvents(g, id)).length > 0, what);
  } finally {
    await releaser.close();
  }
}

const later = () => new Date(Date.now() + 3_600_000).toISOString();

describe('a cancellation whose Redis replicas do not hold it in time', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway('cancel-replicas', {
      cancelReplicas: (redis) => new ReplicaWait(redis, 1, 200, 'schedule store'),
    });
  });
  afterAll(() => g?.close());

  it('is answered 503 NOT-00004, and the order is not shown cancelled until the releaser says it', async () => {
    const r = await g.call('POST', '/future/orders', emailChain('cancel-replicas-1', { requestedSendTime: later() }));
    expect(r.status).toBe(201);
    const id = (r.body.notification as { shipmentId: string }).shipmentId;

    const refused = await g.call('PUT', `/orders/${id}/cancel`);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ errorCode: 'NOT-00004' });

    expect((await g.call('GET', `/orders/${id}/status`)).body).toMatchObject({
      processingStatus: { status: 'Registered' },
    });
    expect(await cancelledEvents(g, id)).toEqual([]);

    // The caller does not ask again. A releaser whose replicas do not hold its claim either does
    // not publish it (a failover could still lose the cancellation); one whose replicas do (none
    // asked for, here) publishes it, once.
    const kept = async () => Number(await g.redis.zscore(`${g.prefix}orders:{schedule}:announce`, id));
    const cancelledAt = await kept();
    expect(cancelledAt).toBeGreaterThan(0);
    const short = schedulerReleaser(g, 0, (redis) => new ReplicaWait(redis, 1, 200, 'schedule store'));
    try {
      short.releaser.start();
      await eventually(async () => (await kept()) > cancelledAt, 'the first releaser’s claim');
      // and its wait for the claim's replicas, refused
      await eventually(async () => (await kept()) > cancelledAt + 200, 'its second claim');
    } finally {
      await short.close();
    }
    expect(await cancelledEvents(g, id)).toEqual([]);
    expect(await g.redis.hexists(`${g.prefix}orders:{schedule}:announcements`, id)).toBe(1);

    await releasedCancellation(g, id, 'the Order_Cancelled event');
    const events = await cancelledEvents(g, id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ orderId: id, creator: 'ttd' });
    expect(await g.redis.hexists(`${g.prefix}orders:{schedule}:announcements`, id)).toBe(0);
  });
});

describe('a cancellation whose event the gateway could not publish', () => {
  let g: TestGateway;
  let failing = false;
  beforeAll(async () => {
    g = await startTestGateway('cancel-unpublished', {
      ordersProducer: (p) => ({
        send: async (records) => {
          if (failing && records.some((r) => r.topic.endsWith('status'))) throw new Error('the broker went away');
          return p.send(records);
        },
      }),
    });
  });
  afterAll(() => g?.close());

  it('is published by the releaser, once, and one the gateway published is not published again', async () => {
    const make = async (n: number) => {
      const r = await g.call(
        'POST',
        '/future/orders',
        emailChain(`cancel-unpublished-${n}`, { requestedSendTime: later() }),
      );
      expect(r.status).toBe(201);
      return (r.body.notification as { shipmentId: string }).shipmentId;
    };
    const [lost, kept] = [await make(1), await make(2)];
    failing = true;
    expect((await g.call('PUT', `/orders/${lost}/cancel`)).status).toBeGreaterThanOrEqual(500);
    failing = false;
    expect((await g.call('PUT', `/orders/${kept}/cancel`)).status).toBe(200);
    expect(await cancelledEvents(g, lost)).toEqual([]);
    expect(await cancelledEvents(g, kept)).toHaveLength(1);

    // the gateway's time is not over: nothing is published
    const patient = schedulerReleaser(g, 3_600_000);
    try {
      patient.releaser.start();
      await eventually(async () => patient.releaser.health().leading, 'the patient releaser to lead');
    } finally {
      await patient.close();
    }
    expect(await cancelledEvents(g, lost)).toEqual([]);

    await releasedCancellation(g, lost, 'the lost Order_Cancelled event');
    expect(await cancelledEvents(g, lost)).toHaveLength(1);
    expect(await cancelledEvents(g, kept)).toHaveLength(1);
  });

  it('is answered 200 once published, though Redis fails after (the releaser and status-view finish it)', async () => {
    const r = await g.call(
      'POST',
      '/future/orders',
      emailChain('cancel-unpublished-3', { requestedSendTime: later() }),
    );
    expect(r.status).toBe(201);
    const id = (r.body.notification as { shipmentId: string }).shipmentId;
    const { announced } = g.schedule;
    const { apply } = g.view;
    const gone = () => Promise.reject(new Error('Connection is closed.'));
    Object.assign(g.schedule, { announced: gone });
    Object.assign(g.view, { apply: gone });
    let answer: Awaited<ReturnType<TestGateway['call']>>;
    try {
      answer = await g.call('PUT', `/orders/${id}/cancel`);
    } finally {
      Object.assign(g.schedule, { announced });
      Object.assign(g.view, { apply });
    }
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ id, processingStatus: { status: 'Cancelled' } });
    expect(await cancelledEvents(g, id)).toHaveLength(1);
    // not forgotten: the releaser says it again, which the view takes as it takes any repeat
    expect(await g.redis.hexists(`${g.prefix}orders:{schedule}:announcements`, id)).toBe(1);
    expect((await g.call('PUT', `/orders/${id}/cancel`)).status).toBe(200);
  });
});
