import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { topicName } from '../../platform/topics.ts';
import { emailChain, startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * With REDIS_WAIT_REPLICAS, a cancellation is answered only once Redis's replicas hold it
 * (`ScheduleStore.cancel`; test/platform/schedule-replicas.test.ts shows what a failover does
 * without it). Too few in time: 503 NOT-00004, and nothing is said of the cancellation (no
 * status event, the order still Registered) until the caller asks again. The test stack's Redis
 * has no replica, so every wait for one is short.
 */
describe('a cancellation whose Redis replicas do not hold it in time', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway('cancel-replicas', {
      cancelReplicas: (redis) => new ReplicaWait(redis, 1, 200, 'schedule store'),
    });
  });
  afterAll(() => g?.close());

  it('is answered 503 NOT-00004, and the order is not shown cancelled', async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const r = await g.call('POST', '/future/orders', emailChain('cancel-replicas-1', { requestedSendTime: at }));
    expect(r.status).toBe(201);
    const id = (r.body.notification as { shipmentId: string }).shipmentId;

    const refused = await g.call('PUT', `/orders/${id}/cancel`);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ errorCode: 'NOT-00004' });

    expect((await g.call('GET', `/orders/${id}/status`)).body).toMatchObject({
      processingStatus: { status: 'Registered' },
    });
    const values: Buffer[] = [];
    await g.kafka.readSince(topicName(g.prefix, 'status'), 0, (rec) => void values.push(rec.value!));
    const statuses: StatusEvent[] = await Promise.all(values.map((v) => g.codec.decode('status', v)));
    expect(statuses.filter((e) => e.orderId === id).map((e) => e.status)).not.toContain('Order_Cancelled');
  });
});
