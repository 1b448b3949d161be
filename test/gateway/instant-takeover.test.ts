// One case holds a transaction open with kafkajs's own API (the adapter's producers commit in one
// call), so it uses the client directly.
// eslint-disable-next-line no-restricted-imports
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstantProducer } from '../../gateway/orders/instant-publisher.ts';
import { topicName } from '../../platform/topics.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { eventually, stackEnv } from '../support/stack.ts';

/**
 * An instant order whose gateway died between its Kafka transaction and its answer (its claim's
 * lease runs out: 2 s here), retried on another gateway with the same idempotencyId. The one that
 * takes the claim over must not write the order's notification again when the dead one's
 * transaction committed (it would sit on the instant lane twice), and must write it when it did
 * not. Both gateways run in this process, on the stack, under one prefix; the dying one's instant
 * producer writes (or not) and then never answers.
 */
describe('an instant order taken over from a gateway that died before answering', () => {
  let taker: TestGateway;
  let dying: TestGateway;
  /** whether the dying gateway's transaction commits before it stops answering */
  let commitsFirst = true;
  /** settles when the dying gateway has (or has not) written, holding the claim */
  let reached: () => void = () => undefined;
  const never = new Promise<never>(() => undefined);
  /**
   * Another producer of the dying gateway, with a transaction on the instant lane left open (a
   * second batch under way when it died): its id is among those the dying gateway's claims name.
   */
  const client = new Kafka({
    brokers: stackEnv().KAFKA_BROKERS.split(','),
    clientId: 'takeover',
    logLevel: logLevel.NOTHING,
  });
  let other: Producer | null = null;
  let otherId = '';

  /** a gateway whose instant producer writes (or not) and then never answers */
  const dyingGateway = () =>
    startTestGateway('instant-takeover', {
      prefix: taker.prefix,
      instantProducer: (p: InstantProducer) => ({
        ids: [...p.ids, otherId],
        stored: (records, since, fence) => p.stored(records, since, fence),
        send: async (records) => {
          if (commitsFirst) await p.send(records);
          reached();
          return never;
        },
      }),
    });
  const gone: TestGateway[] = [];

  beforeAll(async () => {
    taker = await startTestGateway('instant-takeover');
    otherId = `${taker.prefix}dying-other`;
    dying = await dyingGateway();
    gone.push(dying);
  });
  afterAll(async () => {
    await other?.disconnect();
    for (const g of gone) await g.close();
    await taker?.close();
  });

  const order = (id: string) => ({
    idempotencyId: id,
    recipientSms: { phoneNumber: '+4799999999', timeToLiveInSeconds: 360, smsSettings: { body: 'Kode 4321' } },
  });

  /** the SMS on the instant lane for this shipment (the order's main id) */
  const onLane = async (shipmentId: string) => {
    const found: string[] = [];
    const values: Buffer[] = [];
    await taker.kafka.readSince(topicName(taker.prefix, 'smsInstant'), 0, (r) => void values.push(r.value!));
    for (const v of values) {
      const sms = await taker.codec.decode('smsInstant', v);
      if (sms.orderId === shipmentId) found.push(sms.notificationId);
    }
    return found;
  };

  /** posts to the dying gateway, which holds the claim and never answers; returns how to hang up */
  const postToDying = (body: unknown) => {
    const hangUp = new AbortController();
    const answered = fetch(`${dying.url}/future/orders/instant/sms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokenOf}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: hangUp.signal,
    }).catch(() => null);
    return { hangUp: () => hangUp.abort(), answered };
  };
  let tokenOf = '';

  /**
   * Posts to the dying gateway until it holds the claim (having written, or not), hangs up, and
   * retries on the taker, which waits out the lease and takes the claim over.
   */
  const diesThenRetried = async (body: unknown) => {
    const holding = new Promise<void>((r) => (reached = r));
    const request = postToDying(body);
    await holding;
    request.hangUp();
    await request.answered;
    return taker.call('POST', '/future/orders/instant/sms', body);
  };

  it('answers with the first answer and does not write again when the dead gateway’s transaction committed', async () => {
    tokenOf = await dying.token();
    commitsFirst = true;
    const body = order('takeover-after-commit');
    const holding = new Promise<void>((r) => (reached = r));
    const request = postToDying(body);
    // its transaction commits; the gateway never answers
    await holding;
    let shipmentId = '';
    await eventually(async () => {
      const values: Buffer[] = [];
      await taker.kafka.readSince(topicName(taker.prefix, 'smsInstant'), 0, (r) => void values.push(r.value!));
      for (const v of values) {
        const sms = await taker.codec.decode('smsInstant', v);
        if (sms.body === 'Kode 4321' && sms.orderId) shipmentId = sms.orderId;
      }
      return shipmentId !== '';
    }, 'the dying gateway’s SMS on the instant lane');
    request.hangUp();
    await request.answered;

    // the client retries on the other gateway: it waits out the lease, takes the claim over
    const retry = await taker.call('POST', '/future/orders/instant/sms', body);
    expect(retry.status).toBe(200);
    expect((retry.body.notification as { shipmentId: string }).shipmentId).toBe(shipmentId);
    expect(await onLane(shipmentId)).toHaveLength(1);
    // and the order reads as dispatched
    const shipment = await taker.call('GET', `/future/shipment/${shipmentId}`);
    expect(shipment.body).toMatchObject({ status: 'Order_Processed', recipients: [{ status: 'SMS_New' }] });
  });

  it('writes the order when the dead gateway’s transaction never committed', async () => {
    commitsFirst = false;
    // it holds the claim and has written nothing
    const retry = await diesThenRetried(order('takeover-before-commit'));
    expect(retry.status).toBe(200);
    const shipmentId = (retry.body.notification as { shipmentId: string }).shipmentId;
    await eventually(async () => (await onLane(shipmentId)).length > 0, 'the taken-over SMS on the instant lane');
    expect(await onLane(shipmentId)).toHaveLength(1);
  });

  it('fences the dead gateway’s producers, so a transaction it left open does not hold the read past its bound and the committed SMS is not written again', async () => {
    // a gateway of its own: the takeovers above fenced the first one's producers
    dying = await dyingGateway();
    gone.push(dying);
    tokenOf = await dying.token();
    commitsFirst = true;
    // its other producer began a transaction on every partition of the lane before the order's
    // commit, and never ends it (the broker would abort it after 60 s; the read's bound is 20 s)
    other = client.producer({
      transactionalId: otherId,
      transactionTimeout: 60_000,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await other.connect();
    const lane = topicName(taker.prefix, 'smsInstant');
    const partitions = (await taker.kafka.topicEndOffsets(lane)).size;
    const open = await other.transaction();
    await open.send({
      topic: lane,
      messages: Array.from({ length: partitions }, (_, partition) => ({ partition, key: 'open', value: 'x' })),
    });
    const retry = await diesThenRetried(order('takeover-behind-open'));
    expect(retry.status).toBe(200);
    const shipmentId = (retry.body.notification as { shipmentId: string }).shipmentId;
    // once: the takeover fenced the open transaction (aborted it), read the committed SMS, and
    // did not write it again
    expect(await onLane(shipmentId)).toHaveLength(1);
    await expect(open.commit()).rejects.toThrow();
  });
});
