import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundRecord } from '../../platform/kafka/adapter.ts';
import { provision } from '../../platform/provision.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { topicName } from '../../platform/topics.ts';
import { CHECKED_ELSEWHERE_HEADER } from '../../processors/evaluate-condition/stage.ts';
import { startConditionServer } from '../support/condition-server.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import {
  publish,
  sampleOrder,
  stackEnv,
  stageEnv,
  testClients,
  testConfig,
  uniquePrefix,
  within,
} from '../support/stack.ts';

const RETRY_DELAY_MS = 1_000;
const digits = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 10)).join('');

/**
 * The chain from orders to sms.queue in one stage process, as its stages run apart and with
 * prepare-notifications (enrich, evaluate and resolve in one hop) in the place of the three:
 * the same records and statuses either way, a condition re-check included (the fused stage holds
 * it in evaluate-condition's schedule store; evaluate-condition's releaser and its two lanes,
 * evaluate-condition and resolve-channel, take it from there).
 */
describe.each([
  {
    name: 'apart',
    stages: ['scheduler', 'enrich-recipients', 'evaluate-condition', 'resolve-channel', 'schedule-window'],
  },
  {
    name: 'fused',
    stages: ['scheduler', 'prepare-notifications', 'schedule-window'],
  },
])('processing chain ($name)', ({ name, stages }) => {
  const env = stackEnv();
  const prefix = uniquePrefix(`chain-${name}`);
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '2' });
  const { kafka, codec } = testClients(config);
  const nin = digits(11);
  let proc: StageProcess | null = null;
  let server: Awaited<ReturnType<typeof startConditionServer>>;
  const sms: { at: number; value: SmsNotification }[] = [];
  const statuses: StatusEvent[] = [];
  /** orders.enriched as written: each order's conditionChecks, and who marked it checked */
  const enriched: { orderId: string; checks: number; checkedBy: string | null }[] = [];
  const consumers: { stop(): Promise<void> }[] = [];
  let onArrival: () => void = () => undefined;

  beforeAll(async () => {
    server = await startConditionServer();
    await fetch(`${env.REGISTRY_URL}/admin/seed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        persons: [
          { nationalIdentityNumber: nin, name: 'Siri Sms', email: 'siri@example.com', mobileNumber: '98765432' },
        ],
      }),
    });
    await provision(kafka, codec, config);
    const decodeInto =
      <T>(key: 'smsQueue' | 'status', push: (v: T) => void) =>
      (r: InboundRecord) =>
        void codec.decode(key, r.value).then((v) => {
          push(v as T);
          onArrival();
        });
    consumers.push(
      await kafka.collect({
        groupId: `${prefix}sms`,
        topics: [topicName(prefix, 'smsQueue')],
        onRecord: decodeInto<SmsNotification>('smsQueue', (v) => sms.push({ at: Date.now(), value: v })),
      }),
      await kafka.collect({
        groupId: `${prefix}enriched`,
        topics: [topicName(prefix, 'ordersEnriched')],
        onRecord: (r) =>
          void codec.decode('ordersEnriched', r.value).then((v) =>
            enriched.push({
              orderId: v.orderId,
              checks: v.conditionChecks,
              checkedBy: r.headers[CHECKED_ELSEWHERE_HEADER]?.toString() ?? null,
            }),
          ),
      }),
      await kafka.collect({
        groupId: `${prefix}status`,
        topics: [topicName(prefix, 'status')],
        onRecord: decodeInto<StatusEvent>('status', (v) => statuses.push(v)),
      }),
    );
    proc = startStageProcess(stages, {
      ...stageEnv(config),
      REGISTRY_URL: env.REGISTRY_URL,
      EGRESS_ALLOW_LOOPBACK: 'true',
      SCHEDULER_POLL_MS: '50',
      CONDITION_RETRY_DELAY_MS: String(RETRY_DELAY_MS),
    });
    await proc.running;
  });

  afterAll(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    for (const c of consumers) await c.stop();
    await server.close();
    await kafka.close();
  });

  it('delivers an order for a person known only by identity number, with a condition, a future send time and SmsPreferred, to the SMS topic at its time', async () => {
    const sendAt = Date.now() + 3_000;
    const order = sampleOrder(1, {
      requestedSendTime: sendAt,
      notificationChannel: 'SmsPreferred',
      sendingTimePolicy: 'Anytime',
      conditionEndpoint: `${server.base}/true`,
      emailTemplate: {
        fromAddress: 'noreply@altinn.cloud',
        subject: 'Melding',
        body: 'Hei $recipientName$',
        contentType: 'Plain',
      },
      smsTemplate: { senderNumber: 'Altinn', body: 'Hei $recipientName$, du har fått en melding.' },
      recipients: [
        {
          nationalIdentityNumber: nin,
          organizationNumber: null,
          externalIdentity: null,
          emailAddress: null,
          mobileNumber: null,
          isReserved: null,
        },
      ],
    });
    const arrived = new Promise<void>((resolve) => {
      onArrival = () => {
        if (
          sms.some((s) => s.value.orderId === order.orderId) &&
          statuses.some((s) => s.orderId === order.orderId && s.status === 'Order_Processed')
        )
          resolve();
      };
    });
    await publish(kafka, codec, prefix, 'orders', [{ key: order.orderId, value: order }]);
    await within(arrived, 30_000, 'the SMS on sms.queue');

    const delivered = sms.find((s) => s.value.orderId === order.orderId)!;
    expect(delivered.at).toBeGreaterThanOrEqual(sendAt);
    expect(delivered.value).toMatchObject({
      recipient: '+4798765432',
      sender: 'Altinn',
      body: 'Hei Siri Sms, du har fått en melding.',
    });
    expect(server.calls.get('/true')).toBeGreaterThanOrEqual(1);
    const mine = statuses.filter((s) => s.orderId === order.orderId).map((s) => s.status);
    expect(mine).toEqual(['Order_Registered', 'Order_Processing', 'SMS_New', 'Order_Processed']);
  });
  /** an email order to a given address with this condition endpoint; resolves with its statuses once `last` arrives */
  const conditional = async (path: string, last: string) => {
    const order = sampleOrder(1, { conditionEndpoint: `${server.base}${path}` });
    const done = new Promise<void>((resolve) => {
      onArrival = () => {
        if (statuses.some((s) => s.orderId === order.orderId && s.status === last)) resolve();
      };
    });
    const sent = Date.now();
    await publish(kafka, codec, prefix, 'orders', [{ key: order.orderId, value: order }]);
    await within(done, 30_000, `${last} for ${path}`);
    return {
      id: order.orderId,
      sent,
      at: Date.now(),
      mine: statuses.filter((s) => s.orderId === order.orderId).map((s) => s.status),
    };
  };

  it('asks an inconclusive condition again after the retry delay, then sends, each status once', async () => {
    const path = `/flaky/${name}-${digits(6)}`;
    const { id, sent, at, mine } = await conditional(path, 'Order_Processed');
    expect(at - sent).toBeGreaterThanOrEqual(RETRY_DELAY_MS);
    expect(server.calls.get(path)).toBe(2);
    expect(mine).toEqual(['Order_Registered', 'Order_Processing', 'Email_New', 'Order_Processed']);
    // orders.enriched shows the first check and the re-check either way (rebuild-schedules reads
    // it); fused, the first is marked as checked, and evaluate-condition passed it by
    expect(enriched.filter((e) => e.orderId === id)).toEqual([
      { orderId: id, checks: 0, checkedBy: name === 'fused' ? 'prepare-notifications' : null },
      { orderId: id, checks: 1, checkedBy: null },
    ]);
  });

  it('ends an order whose condition says false, and makes no notification', async () => {
    const { mine } = await conditional('/false', 'Order_SendConditionNotMet');
    expect(mine).toEqual(['Order_Registered', 'Order_Processing', 'Order_SendConditionNotMet']);
  });
});
