import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlainProducer } from '../../platform/kafka/adapter.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { topicName } from '../../platform/topics.ts';
import { emailChain, startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * An order chain (v2) or v1 order whose gateway died between writing its orders and answering
 * (its claim's lease runs out: 2 s here), retried on another gateway with the same key. The one
 * that takes the claim over writes the claimed orders only if the dead one did not: either way
 * each order is on the orders topic once. Both gateways run in this process, on the stack,
 * under one prefix; the dying one's producer writes (or not) and then never answers.
 */
describe('an order chain taken over from a gateway that died before answering', () => {
  let taker: TestGateway;
  let dying: TestGateway;
  /** whether the dying gateway's write reaches Kafka before it stops answering */
  let writesFirst = true;
  /** settles when the dying gateway has (or has not) written, holding the claim */
  let reached: () => void = () => undefined;
  const never = new Promise<never>(() => undefined);

  beforeAll(async () => {
    taker = await startTestGateway('chain-takeover');
    dying = await startTestGateway('chain-takeover', {
      prefix: taker.prefix,
      ordersProducer: (p: Pick<PlainProducer, 'send'>) => ({
        send: async (records) => {
          if (writesFirst) await p.send(records);
          reached();
          return never;
        },
      }),
    });
  });
  afterAll(async () => {
    await dying?.close();
    await taker?.close();
  });

  /** the records on the orders topic for these order ids, by id */
  const onTopic = async (ids: string[]) => {
    const values: Buffer[] = [];
    await taker.kafka.readSince(topicName(taker.prefix, 'orders'), 0, (r) => void values.push(r.value!));
    const orders: NotificationOrder[] = await Promise.all(values.map((v) => taker.codec.decode('orders', v)));
    return ids.map((id) => orders.filter((o) => o.orderId === id).length);
  };

  /**
   * Posts to the dying gateway until it holds the claim (having written, or not), hangs up, and
   * retries on the taker, which waits out the lease and takes the claim over.
   */
  const diesThenRetried = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const holding = new Promise<void>((r) => (reached = r));
    const hangUp = new AbortController();
    const answered = fetch(`${dying.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await dying.token()}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: hangUp.signal,
    }).catch(() => null);
    await holding;
    hangUp.abort();
    await answered;
    return taker.call('POST', path, body, { headers });
  };

  const chain = (id: string) => emailChain(id, { reminders: [{ delayDays: 2, recipient: emailChain('x').recipient }] });
  const idsOf = (body: Record<string, unknown>) => {
    const n = body.notification as { shipmentId: string; reminders: { shipmentId: string }[] };
    return [n.shipmentId, ...n.reminders.map((r) => r.shipmentId)];
  };

  it('does not write a chain again when the dead gateway wrote it', async () => {
    writesFirst = true;
    const retry = await diesThenRetried('/future/orders', chain('chain-takeover-after-write'));
    expect(retry.status).toBe(200);
    expect(await onTopic(idsOf(retry.body))).toEqual([1, 1]);
  });

  it('writes a chain the dead gateway did not', async () => {
    writesFirst = false;
    const retry = await diesThenRetried('/future/orders', chain('chain-takeover-before-write'));
    expect(retry.status).toBe(200);
    expect(await onTopic(idsOf(retry.body))).toEqual([1, 1]);
  });

  it('does not write a v1 order again when the dead gateway wrote it (Idempotency-Key)', async () => {
    writesFirst = true;
    const retry = await diesThenRetried(
      '/orders/email',
      { subject: 'S', body: 'B', recipients: [{ emailAddress: 'x@example.com' }] },
      { 'idempotency-key': 'v1-takeover-after-write' },
    );
    expect(retry.status).toBe(202);
    expect(await onTopic([retry.body.orderId as string])).toEqual([1]);
  });
});
