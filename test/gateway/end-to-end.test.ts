import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundRecord } from '../../platform/kafka/adapter.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import { topicName } from '../../platform/topics.ts';
import { startConditionServer } from '../support/condition-server.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { eventually, publish, stackEnv, stageEnv, until } from '../support/stack.ts';

const digits = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 10)).join('');

/**
 * The whole chain behind the API: an order placed through the gateway runs through every stage
 * as `./dev up` runs them (scheduler, prepare-notifications with evaluate-condition and
 * resolve-channel as its lanes, schedule-window, order-view, status-view) in a separate process, and
 * its status reads back through the API.
 */
describe('gateway to notification topics, and back through the API', () => {
  const env = stackEnv();
  const nin = digits(11);
  const reservedNin = digits(11);
  let g: TestGateway;
  let proc: StageProcess | null = null;
  let server: Awaited<ReturnType<typeof startConditionServer>>;
  const statuses: StatusEvent[] = [];
  const sms: { at: number; value: SmsNotification }[] = [];
  const consumers: { stop(): Promise<void> }[] = [];
  const pokes = new Set<() => void>();
  const wait = (predicate: () => boolean, what: string, ms = 40_000) => {
    const u = until(predicate, ms, what);
    pokes.add(u.poke);
    return u.done.finally(() => pokes.delete(u.poke));
  };

  beforeAll(async () => {
    server = await startConditionServer();
    await fetch(`${env.REGISTRY_URL}/admin/seed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        persons: [
          { nationalIdentityNumber: nin, name: 'Siri Sms', email: 'siri@example.com', mobileNumber: '98765432' },
          {
            nationalIdentityNumber: reservedNin,
            name: 'Res',
            email: 'r@example.com',
            mobileNumber: null,
            isReserved: true,
          },
        ],
      }),
    });
    g = await startTestGateway('e2e');
    const into =
      <T>(key: 'smsQueue' | 'status', push: (v: T) => void) =>
      (r: InboundRecord) =>
        void g.codec.decode(key, r.value).then((v) => {
          push(v as T);
          for (const p of pokes) p();
        });
    consumers.push(
      await g.kafka.collect({
        groupId: `${g.prefix}e2e-status`,
        topics: [topicName(g.prefix, 'status')],
        onRecord: into<StatusEvent>('status', (v) => statuses.push(v)),
      }),
      await g.kafka.collect({
        groupId: `${g.prefix}e2e-sms`,
        topics: [topicName(g.prefix, 'smsQueue')],
        onRecord: into<SmsNotification>('smsQueue', (v) => sms.push({ at: Date.now(), value: v })),
      }),
    );
    proc = startStageProcess(['scheduler', 'prepare-notifications', 'schedule-window', 'order-view', 'status-view'], {
      ...stageEnv(g.config),
      REGISTRY_URL: env.REGISTRY_URL,
      EGRESS_ALLOW_LOOPBACK: 'true',
      SCHEDULER_POLL_MS: '50',
    });
    await proc.running;
  });

  afterAll(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    for (const c of consumers) await c.stop();
    await server?.close();
    await g?.close();
  });

  it('sends a future SmsPreferred order with a condition to a person known by identity number, at its time, and reads Completed back', async () => {
    const sendAt = Date.now() + 3_000;
    const created = await g.call('POST', '/future/orders', {
      idempotencyId: `e2e-${nin}`,
      sendersReference: 'e2e',
      requestedSendTime: new Date(sendAt).toISOString(),
      conditionEndpoint: `${server.base}/true`,
      recipient: {
        recipientPerson: {
          nationalIdentityNumber: nin,
          channelSchema: 'SmsPreferred',
          smsSettings: { body: 'Hei $recipientName$', sendingTimePolicy: 'Anytime' },
          emailSettings: { subject: 'Hei', body: 'Hei $recipientName$' },
        },
      },
    });
    expect(created.status).toBe(201);
    const id = (created.body.notification as { shipmentId: string }).shipmentId;
    await wait(() => sms.some((s) => s.value.orderId === id), 'the SMS on sms.queue');
    const sent = sms.find((s) => s.value.orderId === id)!;
    expect(sent.at).toBeGreaterThanOrEqual(sendAt);
    expect(sent.value).toMatchObject({ recipient: '+4798765432', body: 'Hei Siri Sms', sender: 'Altinn' });

    // The status view applies what the stages emitted (Order_Processed is the last of them); the
    // status-view stage reads it from the topic as this test does, so the API may lag a little.
    await wait(() => statuses.some((s) => s.orderId === id && s.status === 'Order_Processed'), 'Order_Processed');
    let status = await g.call('GET', `/orders/${id}/status`);
    await eventually(async () => {
      status = await g.call('GET', `/orders/${id}/status`);
      return (status.body.processingStatus as { status: string }).status === 'Processed';
    }, 'the view to show Processed');
    expect(status.body).toMatchObject({
      processingStatus: { status: 'Processed' },
      notificationsStatusSummary: { sms: { generated: 1, succeeded: 0 } },
    });

    // A delivery report: the status view completes the order and puts it in the feed.
    const event: StatusEvent = {
      ...orderStatus({ orderId: id, creator: 'ttd' }, 'SMS_Delivered', Date.now()),
      notificationId: sent.value.notificationId,
      channel: 'Sms',
      destination: sent.value.recipient,
    };
    await publish(g.kafka, g.codec, g.prefix, 'status', [{ key: id, value: event }]);
    await wait(() => statuses.some((s) => s.orderId === id && s.status === 'Order_Completed'), 'Order_Completed');
    let completed = await g.call('GET', `/orders/${id}/notifications/sms`);
    await eventually(async () => {
      completed = await g.call('GET', `/orders/${id}/notifications/sms`);
      return completed.body.succeeded === 1;
    }, 'the view to show the SMS delivered');
    expect(completed.body).toMatchObject({
      generated: 1,
      succeeded: 1,
      notifications: [{ sendStatus: { status: 'Delivered' } }],
    });
    // The status view applies Order_Completed when it reads it back; only the API shows that.
    await eventually(async () => {
      const feed = (await g.call('GET', '/future/shipment/feed')).body as unknown as { shipmentId: string }[];
      return feed.some((e) => e.shipmentId === id);
    }, 'the order in the status feed');
    expect(statuses.filter((s) => s.orderId === id && s.status === 'Order_Completed')).toHaveLength(1);
    // and the stage process counts the results: the SMS delivered, the order completed
    const opsPort = /"opsPort":(\d+)/.exec(proc!.output())![1];
    await eventually(async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      return (
        /notifications_final_total\{channel="sms",result="Delivered"\} [1-9]/.test(metrics) &&
        /orders_final_total\{status="Order_Completed"\} [1-9]/.test(metrics) &&
        /dependency_request_seconds_count\{dependency="registry",outcome="ok"\} [1-9]/.test(metrics) &&
        /dependency_request_seconds_count\{dependency="condition-endpoint",outcome="ok"\} [1-9]/.test(metrics) &&
        // its Kafka clients' requests, by API: a stage's transactions end with EndTxn
        /kafka_client_requests_total\{client="consumer",api="Fetch"\} [1-9]/.test(metrics) &&
        /kafka_client_requests_total\{client="producer",api="EndTxn"\} [1-9]/.test(metrics) &&
        // and how long they waited (a time was taken of each: not none, not NaN)
        /kafka_client_request_duration_seconds_count\{client="producer",api="EndTxn"\} [1-9]/.test(metrics) &&
        Number(/kafka_client_request_duration_seconds_sum\{client="producer",api="EndTxn"\} (\S+)/.exec(metrics)?.[1]) >
          0
      );
    }, 'the results in /metrics');
  });

  it('runs each reminder as its own order with its own condition: the main one is sent, a reminder whose endpoint says false is not', async () => {
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const emailRecipient = (address: string) => ({
      recipientEmail: { emailAddress: address, emailSettings: { subject: 'Påminnelse', body: 'Husk fristen' } },
    });
    const created = await g.call('POST', '/future/orders', {
      idempotencyId: `e2e-reminders-${nin}`,
      sendersReference: 'main',
      conditionEndpoint: `${server.base}/true`,
      recipient: emailRecipient('main@example.com'),
      reminders: [
        {
          sendersReference: 'wanted',
          requestedSendTime: at(2_000),
          // the reminders ask the gateway's own stub condition endpoint (the reference's /tests/sendcondition)
          conditionEndpoint: `${g.url}/tests/sendcondition?conditionMet=true`,
          recipient: emailRecipient('rem1@example.com'),
        },
        {
          sendersReference: 'not-wanted',
          requestedSendTime: at(2_000),
          conditionEndpoint: `${g.url}/tests/sendcondition?conditionMet=false`,
          recipient: emailRecipient('rem2@example.com'),
        },
      ],
    });
    expect(created.status).toBe(201);
    const n = created.body.notification as { shipmentId: string; reminders: { shipmentId: string }[] };
    const [wanted, notWanted] = n.reminders.map((r) => r.shipmentId);
    const reached = (id: string, status: StatusEvent['status']) =>
      statuses.some((s) => s.orderId === id && s.status === status);
    await wait(
      () =>
        reached(n.shipmentId, 'Order_Processed') &&
        reached(wanted!, 'Order_Processed') &&
        reached(notWanted!, 'Order_SendConditionNotMet'),
      'each order of the chain to its own outcome',
    );
    expect(reached(notWanted!, 'Email_New')).toBe(false);
    await eventually(
      async () =>
        (await g.call('GET', `/orders/${notWanted!}/status`)).body.processingStatus !== undefined &&
        ((await g.call('GET', `/orders/${notWanted!}/status`)).body.processingStatus as { status: string }).status ===
          'SendConditionNotMet',
      'SendConditionNotMet readable',
    );
    expect(
      ((await g.call('GET', `/future/shipment/feed`)).body as unknown as { shipmentId: string }[]).map(
        (e) => e.shipmentId,
      ),
    ).toContain(notWanted);
  });

  it('completes at once an order whose only recipient is reserved, with a feed entry', async () => {
    const created = await g.call('POST', '/future/orders', {
      idempotencyId: `e2e-${reservedNin}`,
      recipient: {
        recipientPerson: {
          nationalIdentityNumber: reservedNin,
          channelSchema: 'Email',
          emailSettings: { subject: 's', body: 'b' },
        },
      },
    });
    expect(created.status).toBe(201);
    const id = (created.body.notification as { shipmentId: string }).shipmentId;
    await wait(() => statuses.some((s) => s.orderId === id && s.status === 'Order_Completed'), 'Order_Completed');
    await eventually(
      async () => (await g.call('GET', `/future/shipment/${id}`)).body.status === 'Order_Completed',
      'Completed in the view',
    );
    expect((await g.call('GET', `/future/shipment/${id}`)).body).toMatchObject({
      status: 'Order_Completed',
      recipients: [{ type: 'Email', status: 'Email_Failed_RecipientReserved' }],
    });
    expect(
      ((await g.call('GET', '/future/shipment/feed')).body as unknown as { shipmentId: string }[]).map(
        (e) => e.shipmentId,
      ),
    ).toContain(id);
  });
});
