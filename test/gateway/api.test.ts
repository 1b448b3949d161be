import { DeliveryRefs } from '../../platform/redis/delivery-refs.ts';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { listenOnFreePort } from '../support/listen.ts';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMAS } from '../../gateway/openapi.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { orderStatus } from '../../platform/status.ts';
import { topicName } from '../../platform/topics.ts';
import { EMAIL_REPORT_KEY, emailChain, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { eventually, stackEnv, within } from '../support/stack.ts';

const env = stackEnv();
const digits = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 10)).join('');
const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();

async function seed(body: unknown) {
  const r = await fetch(`${env.REGISTRY_URL}/admin/seed`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(r.status).toBe(200);
}

/** Every record on the orders topic under the gateway's prefix. */
async function ordersOnTopic(g: TestGateway): Promise<NotificationOrder[]> {
  const out: NotificationOrder[] = [];
  await g.kafka.readSince(topicName(g.prefix, 'orders'), 0, (r) => void out.push(r.value as never));
  return Promise.all(out.map((v) => g.codec.decode('orders', v as unknown as Buffer)));
}

// The served OpenAPI document's schemas: every response below must match them.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema({ $id: 'api', components: { schemas: SCHEMAS } });
function conforms(schema: keyof typeof SCHEMAS, body: unknown) {
  const validate = ajv.getSchema(`api#/components/schemas/${schema}`)!;
  if (!validate(body)) throw new Error(`${schema}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`);
}

describe('gateway', () => {
  let g: TestGateway;
  const nin = digits(11);
  const reservedNin = digits(11);
  const noContactNin = digits(11);

  beforeAll(async () => {
    await fetch(`${env.REGISTRY_URL}/admin/outage`, { method: 'DELETE' });
    await seed({
      persons: [
        { nationalIdentityNumber: nin, name: 'Kari', email: 'kari@example.com', mobileNumber: '98765432' },
        {
          nationalIdentityNumber: reservedNin,
          name: 'Res',
          email: 'res@example.com',
          mobileNumber: null,
          isReserved: true,
        },
        { nationalIdentityNumber: noContactNin, name: 'Ingen', email: null, mobileNumber: null },
      ],
    });
    g = await startTestGateway('gw');
  });
  afterAll(async () => {
    await g?.close();
  });

  describe('authentication and tenancy', () => {
    it('answers 401 without a token and with a token signed by another key', async () => {
      const none = await fetch(`${g.url}/orders?sendersReference=x`);
      expect(none.status).toBe(401);
      const other = await startTestGateway('gw-other-key', { prefix: g.prefix });
      try {
        const forged = await fetch(`${g.url}/orders?sendersReference=x`, {
          headers: { authorization: `Bearer ${await other.token('ttd')}` },
        });
        expect(forged.status).toBe(401);
      } finally {
        await other.close();
      }
    });

    it('answers 403 without the scope or without an org', async () => {
      for (const token of [await g.token('ttd', 'altinn:something.else'), await g.token(null)]) {
        const r = await fetch(`${g.url}/orders?sendersReference=x`, { headers: { authorization: `Bearer ${token}` } });
        expect(r.status).toBe(403);
      }
    });

    it('counts requests by method and route template, 401 and 403 under the route they were for', async () => {
      const before = await (await fetch(`${g.root}/metrics`)).text();
      const count = (text: string, labels: string) =>
        Number(new RegExp(`^gateway_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
      const shipment = 'method="GET",route="/notifications/api/v1/future/shipment/:id"';
      const feed = 'method="GET",route="/notifications/api/v1/future/shipment/feed"';
      const orders = 'method="POST",route="/notifications/api/v1/future/orders"';
      const denied = await g.token('ttd', 'altinn:something.else');
      // no token, for a shipment id and for the feed; the wrong scope, for an order
      expect((await fetch(`${g.url}/future/shipment/${randomUUID()}`)).status).toBe(401);
      expect((await fetch(`${g.url}/future/shipment/feed`)).status).toBe(401);
      const post = await fetch(`${g.url}/future/orders`, {
        method: 'POST',
        headers: { authorization: `Bearer ${denied}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(post.status).toBe(403);
      // a path no route has: its id never becomes a label
      expect((await fetch(`${g.url}/no-such/${randomUUID()}`)).status).toBe(401);
      const after = await (await fetch(`${g.root}/metrics`)).text();
      expect(count(after, `${shipment},status="401"`) - count(before, `${shipment},status="401"`)).toBe(1);
      expect(count(after, `${feed},status="401"`) - count(before, `${feed},status="401"`)).toBe(1);
      expect(count(after, `${orders},status="403"`) - count(before, `${orders},status="403"`)).toBe(1);
      expect(count(after, 'method="GET",route="unmatched",status="401"')).toBeGreaterThanOrEqual(1);
      expect(after).not.toMatch(/route="[^"]*[0-9a-f]{8}-[0-9a-f]{4}-/);
    });

    it('takes a Platform Access Token instead of a bearer token, its issuer as the creator', async () => {
      const asPlatformApp = async (token: string, init: RequestInit = {}, path = '/future/orders') =>
        fetch(`${g.url}${path}`, {
          ...init,
          headers: { 'content-type': 'application/json', platformaccesstoken: token, ...init.headers },
        });
      const created = await asPlatformApp(await g.accessToken('digdir'), {
        method: 'POST',
        body: JSON.stringify(emailChain('platform-token-1', { requestedSendTime: inMinutes(60) })),
      });
      expect(created.status).toBe(201);
      const id = ((await created.json()) as { notification: { shipmentId: string } }).notification.shipmentId;
      // the order is digdir's: digdir reads it, ttd does not
      expect((await g.call('GET', `/orders/${id}`, undefined, { org: 'digdir' })).status).toBe(200);
      expect((await g.call('GET', `/orders/${id}`)).status).toBe(404);
      // an issuer without a key here, or a token signed by another key, is refused
      const other = await startTestGateway('gw-other-issuer', { prefix: g.prefix });
      try {
        for (const token of [await g.accessToken('ttd'), await other.accessToken('digdir')]) {
          const r = await asPlatformApp(
            token,
            { headers: { authorization: `Bearer ${await g.token('ttd')}` } },
            `/orders/${id}`,
          );
          expect(r.status).toBe(401);
          expect(((await r.json()) as { detail: string }).detail).toBe('The platform access token is not valid.');
        }
      } finally {
        await other.close();
      }
    });

    it("shows, cancels and replays only the caller's own orders", async () => {
      const created = await g.call(
        'POST',
        '/future/orders',
        emailChain('tenancy-1', { requestedSendTime: inMinutes(60) }),
      );
      expect(created.status).toBe(201);
      const id = (created.body.notification as { shipmentId: string }).shipmentId;
      expect((await g.call('GET', `/orders/${id}`)).status).toBe(200);
      for (const [method, path] of [
        ['GET', `/orders/${id}`],
        ['GET', `/orders/${id}/status`],
        ['GET', `/orders/${id}/notifications/email`],
        ['PUT', `/orders/${id}/cancel`],
      ] as const) {
        expect((await g.call(method, path, undefined, { org: 'other' })).status).toBe(404);
      }
      expect((await g.call('GET', `/future/shipment/${id}`, undefined, { org: 'other' })).body).toMatchObject({
        errorCode: 'NOT-00003',
      });
      // The same idempotencyId from another org is another chain.
      const theirs = await g.call('POST', '/future/orders', emailChain('tenancy-1'), { org: 'other' });
      expect(theirs.status).toBe(201);
      expect(theirs.body.notificationOrderId).not.toBe(created.body.notificationOrderId);
    });
  });

  describe('POST /future/orders', () => {
    it('registers an order chain with reminders: 201, Location, ids, the records on the orders topic', async () => {
      const r = await g.call(
        'POST',
        '/future/orders',
        emailChain('chain-1', {
          sendersReference: 'main-ref',
          requestedSendTime: inMinutes(10),
          reminders: [
            { delayDays: 2, sendersReference: 'rem-1', recipient: emailChain('x').recipient },
            { requestedSendTime: inMinutes(30), recipient: emailChain('x').recipient },
          ],
        }),
      );
      expect(r.status).toBe(201);
      conforms('NotificationOrderChainResponse', r.body);
      expect(r.headers.get('location')).toBe(
        `http://gateway.test/notifications/api/v1/orders/chain/${r.body.notificationOrderId as string}`,
      );
      const n = r.body.notification as {
        shipmentId: string;
        reminders: { shipmentId: string; sendersReference?: string }[];
      };
      expect(n.reminders).toHaveLength(2);
      expect(n.reminders[0]!.sendersReference).toBe('rem-1');
      expect(n.reminders[1]!.sendersReference).toBeUndefined();
      const records = (await ordersOnTopic(g)).filter((o) => o.orderChainId === r.body.notificationOrderId);
      expect(records.map((o) => o.type).sort()).toEqual(['Notification', 'Reminder', 'Reminder']);
      const main = records.find((o) => o.type === 'Notification')!;
      const rem1 = records.find((o) => o.orderId === n.reminders[0]!.shipmentId)!;
      expect(rem1.requestedSendTime - main.requestedSendTime).toBe(2 * 24 * 3600 * 1000);
      expect(main).toMatchObject({ creator: 'ttd', notificationChannel: 'Email', sendersReference: 'main-ref' });
      expect(main.emailTemplate).toMatchObject({ fromAddress: 'noreply@altinn.cloud', subject: 'Hei' });
    });

    it('replays the original answer (200) for the same idempotencyId, ignoring new content', async () => {
      const first = await g.call('POST', '/future/orders', emailChain('replay-1', { sendersReference: 'first' }));
      const again = await g.call('POST', '/future/orders', emailChain('replay-1', { sendersReference: 'second' }));
      expect(first.status).toBe(201);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
    });

    it('creates one chain for 20 concurrent requests with one idempotencyId', async () => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          g.call('POST', '/future/orders', emailChain('race-1', { sendersReference: `r${i}` })),
        ),
      );
      expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
      expect(answers.filter((a) => a.status === 200)).toHaveLength(19);
      expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
      const chainId = answers[0]!.body.notificationOrderId;
      expect((await ordersOnTopic(g)).filter((o) => o.orderChainId === chainId)).toHaveLength(1);
    });

    it('normalises line breaks in the subject and trims the sender', async () => {
      const r = await g.call(
        'POST',
        '/future/orders',
        emailChain('subject-1', {
          recipient: {
            recipientEmail: {
              emailAddress: 'a@example.com',
              emailSettings: {
                subject: 'one\r\ntwo\nthree\rfour',
                body: 'b',
                senderEmailAddress: ' from@example.com ',
              },
            },
          },
        }),
      );
      expect(r.status).toBe(201);
      const id = (r.body.notification as { shipmentId: string }).shipmentId;
      const order = await g.call('GET', `/orders/${id}`);
      expect(order.body.emailTemplate).toMatchObject({
        subject: 'one two three four',
        fromAddress: 'from@example.com',
      });
    });

    it('refuses with 422 NOT-00001 when a person has no contact point, and stores nothing', async () => {
      const body = emailChain('missing-1', {
        recipient: {
          recipientPerson: {
            nationalIdentityNumber: noContactNin,
            channelSchema: 'Email',
            emailSettings: { subject: 's', body: 'b' },
          },
        },
      });
      const r = await g.call('POST', '/future/orders', body);
      expect(r.status).toBe(422);
      expect(r.body).toMatchObject({
        status: 422,
        errorCode: 'NOT-00001',
        title: 'Missing contact information for recipient(s)',
      });
      expect((await ordersOnTopic(g)).filter((o) => o.idempotencyId === 'missing-1')).toHaveLength(0);
      // Nothing was kept: once the person has an address, the same idempotencyId registers.
      await seed({
        persons: [
          { nationalIdentityNumber: noContactNin, name: 'Ingen', email: 'found@example.com', mobileNumber: null },
        ],
      });
      expect((await g.call('POST', '/future/orders', body)).status).toBe(201);
    });

    it('stores nothing and frees the idempotencyId when the client hangs up before the order is stored (NOT-00002)', async () => {
      // the stack's registry, behind a proxy that holds each lookup until the test lets it go
      const held: (() => void)[] = [];
      let onHeld = () => undefined as void;
      const proxy = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          held.push(() => {
            void fetch(`${env.REGISTRY_URL}${req.url}`, {
              method: req.method,
              headers: { 'content-type': 'application/json' },
              body,
            }).then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()));
          });
          onHeld();
        });
      });
      const { port: proxyPort } = await listenOnFreePort(proxy);
      const slow = await startTestGateway('gw-hangup', {
        prefix: g.prefix,
        registryUrl: `http://127.0.0.1:${proxyPort}`,
      });
      try {
        const body = emailChain('hangup-1', {
          recipient: {
            recipientPerson: {
              nationalIdentityNumber: '01017012345',
              channelSchema: 'Email',
              emailSettings: { subject: 's', body: 'b' },
            },
          },
        });
        const lookupHeld = new Promise<void>((resolve) => (onHeld = resolve));
        const client = new AbortController();
        const answer = fetch(`${slow.url}/future/orders`, {
          method: 'POST',
          headers: { authorization: `Bearer ${await slow.token('ttd')}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: client.signal,
        }).catch((e: Error) => e.name);
        // (each step bounded, so a run that stops somewhere says where: once in ten rehearsals
        // this test hung for its whole 180 s without a word)
        const first = await within(
          Promise.race([
            lookupHeld.then(() => 'lookup held'),
            answer.then(async (a) => (typeof a === 'string' ? a : `answered ${a.status}: ${await a.text()}`)),
          ]),
          30_000,
          'the gateway asking the registry',
        );
        expect(first).toBe('lookup held');
        client.abort();
        expect(await answer).toBe('AbortError');
        for (const release of held.splice(0)) release();
        onHeld = () => held.splice(0).forEach((release) => release());
        // the gateway notices at its next step, and counts the request as 499
        await eventually(
          async () => (await (await fetch(`${slow.root}/metrics`)).text()).includes('status="499"'),
          'the hang-up to be counted',
        );
        const stored = await within(ordersOnTopic(g), 60_000, 'reading the orders topic');
        expect(stored.filter((o) => o.idempotencyId === 'hangup-1')).toHaveLength(0);
        // the idempotencyId is free: the same order now registers (201, not a 200 replay)
        expect((await within(slow.call('POST', '/future/orders', body), 30_000, 'the order again')).status).toBe(201);
      } finally {
        await within(slow.close(), 30_000, 'closing the gateway');
        proxy.close();
      }
    });

    it('accepts a reserved person (reservation is not missing contact)', async () => {
      const r = await g.call(
        'POST',
        '/future/orders',
        emailChain('reserved-1', {
          recipient: {
            recipientPerson: {
              nationalIdentityNumber: reservedNin,
              channelSchema: 'Email',
              emailSettings: { subject: 's', body: 'b' },
            },
          },
        }),
      );
      expect(r.status).toBe(201);
    });

    it('answers 503 NOT-00004 when the registry is down, and stores nothing', async () => {
      await fetch(`${env.REGISTRY_URL}/admin/outage`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status: 503, count: 1000 }),
      });
      try {
        const r = await g.call(
          'POST',
          '/future/orders',
          emailChain('outage-1', {
            recipient: {
              recipientPerson: {
                nationalIdentityNumber: nin,
                channelSchema: 'Email',
                emailSettings: { subject: 's', body: 'b' },
              },
            },
          }),
        );
        expect(r.status).toBe(503);
        expect(r.body).toMatchObject({ errorCode: 'NOT-00004' });
        expect(JSON.stringify(r.body)).not.toMatch(/registry|stack|at \w+ \(/i);
      } finally {
        await fetch(`${env.REGISTRY_URL}/admin/outage`, { method: 'DELETE' });
      }
      expect((await ordersOnTopic(g)).filter((o) => o.idempotencyId === 'outage-1')).toHaveLength(0);
    });

    it('answers bad bodies with a clear 4xx, never a 500', async () => {
      const malformed = await g.call('POST', '/future/orders', '{"idempotencyId": ');
      expect(malformed.status).toBe(400);
      expect(malformed.body).toMatchObject({ title: 'One or more validation errors occurred.' });
      const wrongType = await fetch(`${g.url}/future/orders`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await g.token()}`, 'content-type': 'text/plain' },
        body: 'hello',
      });
      expect(wrongType.status).toBe(415);
      const huge = await g.call(
        'POST',
        '/future/orders',
        emailChain('huge', { sendersReference: 'x'.repeat(100_000) }),
      );
      expect(huge.status).toBe(413);
      const invalid = await g.call('POST', '/future/orders', { recipient: {} });
      expect(invalid.status).toBe(400);
      conforms('ValidationProblemDetails', invalid.body);
      expect(invalid.body.errors).toMatchObject({
        IdempotencyId: ['IdempotencyId cannot be null or empty.'],
        Recipient: ['Must have exactly one recipient.'],
      });
    });
  });

  describe('v1 orders', () => {
    it('accepts POST /orders with 202, Location and the recipient lookup', async () => {
      const r = await g.call('POST', '/orders', {
        sendersReference: 'v1-ref',
        notificationChannel: 'Email',
        emailTemplate: { subject: 'S', body: 'B' },
        recipients: [
          { nationalIdentityNumber: nin },
          { nationalIdentityNumber: reservedNin },
          { organizationNumber: '999999999' },
        ],
      });
      expect(r.status).toBe(202);
      conforms('NotificationOrderRequestResponse', r.body);
      expect(r.headers.get('location')).toBe(
        `http://gateway.test/notifications/api/v1/orders/${r.body.orderId as string}`,
      );
      expect(r.body.recipientLookup).toEqual({
        status: 'PartialSuccess',
        isReserved: [reservedNin],
        missingContact: ['999999999'],
      });
      const fetched = await g.call('GET', `/orders/${r.body.orderId as string}`);
      conforms('NotificationOrder', fetched.body);
      expect(fetched.body).toMatchObject({ id: r.body.orderId, creator: 'ttd', sendersReference: 'v1-ref' });
      const byRef = await g.call('GET', '/orders?sendersReference=v1-ref');
      conforms('OrdersList', byRef.body);
      expect(byRef.body).toMatchObject({ count: 1 });
    });

    it('omits recipientLookup when every recipient has an address; /orders/sms and /orders/email', async () => {
      const sms = await g.call('POST', '/orders/sms', { body: 'Hei', recipients: [{ mobileNumber: '+4799999999' }] });
      expect(sms.status).toBe(202);
      expect(sms.body.recipientLookup).toBeUndefined();
      const order = await g.call('GET', `/orders/${sms.body.orderId as string}`);
      expect(order.body.smsTemplate).toEqual({ senderNumber: 'Altinn', body: 'Hei' });
      const email = await g.call('POST', '/orders/email', {
        subject: 'S',
        body: 'B',
        recipients: [{ emailAddress: 'x@example.com' }],
      });
      expect(email.status).toBe(202);
      const bad = await g.call('POST', '/orders/sms', { body: 'Hei', recipients: [{ mobileNumber: '+4750000004' }] });
      expect(bad.body.errors).toEqual({
        'Recipients[0].MobileNumber': [
          "Mobile number can contain only '+' and numeric characters, and it must adhere to the E.164 standard.",
        ],
      });
    });

    it('reads status and notification summaries from the status view', async () => {
      const r = await g.call('POST', '/future/orders', emailChain('status-1'));
      const id = (r.body.notification as { shipmentId: string }).shipmentId;
      const registered = await g.call('GET', `/orders/${id}/status`);
      conforms('NotificationOrderWithStatus', registered.body);
      expect(registered.body.processingStatus).toMatchObject({
        status: 'Registered',
        description: 'Order has been registered and is awaiting requested send time before processing.',
      });
      const t = Date.now();
      const order = { orderId: id, creator: 'ttd' };
      await g.view.apply(orderStatus(order, 'Order_Processing', t), t);
      await g.view.apply(
        {
          ...orderStatus(order, 'Email_New', t),
          notificationId: '0f9f5d2e-8b1a-4a51-9a1e-2c9d8f7e6a5b',
          channel: 'Email',
          destination: 'ola.normann@example.com',
        },
        t,
      );
      const processed = await g.view.apply(orderStatus(order, 'Order_Processed', t), t);
      expect(processed.result).toBe('pending');
      const done = await g.view.apply(
        {
          ...orderStatus(order, 'Email_Delivered', t + 1),
          notificationId: '0f9f5d2e-8b1a-4a51-9a1e-2c9d8f7e6a5b',
          channel: 'Email',
          destination: 'ola.normann@example.com',
        },
        t + 1,
      );
      expect(done.result).toBe('complete');
      const summary = await g.call('GET', `/orders/${id}/notifications/email`);
      conforms('NotificationSummary', summary.body);
      expect(summary.body).toMatchObject({ generated: 1, succeeded: 1 });
      expect((summary.body.notifications as { sendStatus: unknown }[])[0]!.sendStatus).toMatchObject({
        status: 'Delivered',
        description:
          'The email was delivered to the recipient. No errors reported, making it likely it was received by the recipient.',
      });
      const shipment = await g.call('GET', `/future/shipment/${id}`);
      conforms('Shipment', shipment.body);
      expect(shipment.body).toMatchObject({
        status: 'Order_Processed',
        recipients: [{ type: 'Email', destination: 'ola.normann@example.com', status: 'Email_Delivered' }],
      });
    });
  });

  describe('PUT /orders/{id}/cancel', () => {
    it('cancels an order more than five minutes away, idempotently, and it is never scheduled', async () => {
      const r = await g.call('POST', '/future/orders', emailChain('cancel-1', { requestedSendTime: inMinutes(60) }));
      const id = (r.body.notification as { shipmentId: string }).shipmentId;
      const cancelled = await g.call('PUT', `/orders/${id}/cancel`);
      expect(cancelled.status).toBe(200);
      conforms('NotificationOrderWithStatus', cancelled.body);
      expect(cancelled.body.processingStatus).toMatchObject({
        status: 'Cancelled',
        description: 'Order processing was stopped due to order being cancelled.',
      });
      expect((await g.call('PUT', `/orders/${id}/cancel`)).status).toBe(200);
      // The scheduler finds the tombstone when the order record reaches it.
      expect(await g.schedule.schedule(id, Date.now() + 3_600_000, Buffer.from('{}'))).toBe('final');
    });

    it('refuses (409) within five minutes of the send time or once processing started; 404 for unknown', async () => {
      const soon = await g.call('POST', '/future/orders', emailChain('cancel-2', { requestedSendTime: inMinutes(4) }));
      const soonId = (soon.body.notification as { shipmentId: string }).shipmentId;
      expect((await g.call('PUT', `/orders/${soonId}/cancel`)).status).toBe(409);
      const later = await g.call(
        'POST',
        '/future/orders',
        emailChain('cancel-3', { requestedSendTime: inMinutes(60) }),
      );
      const laterId = (later.body.notification as { shipmentId: string }).shipmentId;
      await g.view.apply(orderStatus({ orderId: laterId, creator: 'ttd' }, 'Order_Processing', Date.now()), Date.now());
      expect((await g.call('PUT', `/orders/${laterId}/cancel`)).status).toBe(409);
      expect((await g.call('PUT', '/orders/6b3bfbc4-a092-4df7-8f38-e43171df49a9/cancel')).status).toBe(404);
    });
  });

  describe('GET /future/shipment/feed', () => {
    it('pages through completed orders by sequence number, ascending and descending, only the caller’s', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await g.call('POST', '/future/orders', emailChain(`feed-${i}`), { org: 'feedorg' });
        const id = (r.body.notification as { shipmentId: string }).shipmentId;
        ids.push(id);
        const t = Date.now();
        await g.view.apply(
          orderStatus(
            { orderId: id, creator: 'feedorg' },
            i === 1 ? 'Order_SendConditionNotMet' : 'Order_Completed',
            t,
          ),
          t,
        );
        // a repeated final event makes no second entry
        await g.view.apply(orderStatus({ orderId: id, creator: 'feedorg' }, 'Order_Completed', t), t);
      }
      const page1 = await g.call('GET', '/future/shipment/feed?pageSize=2', undefined, { org: 'feedorg' });
      expect(page1.status).toBe(200);
      const entries = page1.body as unknown as { shipmentId: string; sequenceNumber: number; status: string }[];
      entries.forEach((e) => conforms('Shipment', e));
      expect(entries.map((e) => e.shipmentId)).toEqual(ids.slice(0, 2));
      expect(entries[1]!.status).toBe('Order_SendConditionNotMet');
      const page2 = await g.call('GET', `/future/shipment/feed?seq=${entries[1]!.sequenceNumber}`, undefined, {
        org: 'feedorg',
      });
      expect((page2.body as unknown as { shipmentId: string }[]).map((e) => e.shipmentId)).toEqual([ids[2]]);
      const desc = await g.call('GET', '/future/shipment/feed?orderBy=desc&pageSize=500', undefined, {
        org: 'feedorg',
      });
      expect((desc.body as unknown as { shipmentId: string }[]).map((e) => e.shipmentId)).toEqual([...ids].reverse());
      expect((await g.call('GET', '/future/shipment/feed', undefined, { org: 'nobody' })).body).toEqual([]);
      const negative = await g.call('GET', '/future/shipment/feed?seq=-1', undefined, { org: 'feedorg' });
      expect(negative.status).toBe(400);
      expect(negative.body.errors).toEqual({ Seq: ['Sequence number cannot be less than 0.'] });
    });

    it('hides entries younger than the visibility delay', async () => {
      const delayed = await startTestGateway('gw-feed-delay', { prefix: g.prefix, feedVisibilityDelayMs: 60_000 });
      try {
        const r = await delayed.call('POST', '/future/orders', emailChain('fresh-1'), { org: 'fresh' });
        const id = (r.body.notification as { shipmentId: string }).shipmentId;
        await delayed.view.apply(
          orderStatus({ orderId: id, creator: 'fresh' }, 'Order_Completed', Date.now()),
          Date.now(),
        );
        expect((await delayed.call('GET', '/future/shipment/feed', undefined, { org: 'fresh' })).body).toEqual([]);
        expect((await g.call('GET', '/future/shipment/feed', undefined, { org: 'fresh' })).body).toHaveLength(1);
      } finally {
        await delayed.close();
      }
    });
  });

  describe('instant orders', () => {
    const instantSms = (id: string, extra: Record<string, unknown> = {}) => ({
      idempotencyId: id,
      sendersReference: 'otp',
      recipientSms: {
        phoneNumber: '+47 99 99 99 99',
        timeToLiveInSeconds: 360,
        smsSettings: { body: 'Kode 1234' },
        ...extra,
      },
    });

    it('puts an instant SMS on the sender’s instant lane at once, with its order and statuses, in one transaction', async () => {
      const before = Date.now();
      const r = await g.call('POST', '/future/orders/instant/sms', instantSms('otp-1'));
      expect(r.status).toBe(201);
      conforms('NotificationOrderChainResponse', r.body);
      const id = (r.body.notification as { shipmentId: string }).shipmentId;
      // The transaction committed before the 201; its markers, which make the records visible to
      // read-committed readers, are written by the broker a moment later.
      let sms: Awaited<ReturnType<typeof g.codec.decode<'smsInstant'>>>[] = [];
      await eventually(async () => {
        const queued: Buffer[] = [];
        await g.kafka.readSince(topicName(g.prefix, 'smsInstant'), 0, (rec) => void queued.push(rec.value!));
        sms = (await Promise.all(queued.map((b) => g.codec.decode('smsInstant', b)))).filter((n) => n.orderId === id);
        return sms.length > 0;
      }, 'the instant SMS visible on sms.instant');
      expect(sms).toHaveLength(1);
      expect(sms[0]).toMatchObject({
        recipient: '+4799999999',
        body: 'Kode 1234',
        sender: 'Altinn',
        sendingTimePolicy: 'Anytime',
      });
      expect(sms[0]!.expiry - sms[0]!.requestedSendTime).toBe(360_000);
      expect(sms[0]!.requestedSendTime).toBeGreaterThanOrEqual(before);
      await eventually(
        async () => (await ordersOnTopic(g)).some((o) => o.orderId === id),
        'the instant order visible on the orders topic',
      );
      expect((await ordersOnTopic(g)).filter((o) => o.orderId === id)).toMatchObject([{ type: 'Instant' }]);
      const shipment = await g.call('GET', `/future/shipment/${id}`);
      expect(shipment.body).toMatchObject({
        type: 'Instant',
        status: 'Order_Processed',
        recipients: [{ type: 'SMS', status: 'SMS_New' }],
      });
      const again = await g.call(
        'POST',
        '/future/orders/instant/sms',
        instantSms('otp-1', { smsSettings: { body: 'other' } }),
      );
      expect(again.status).toBe(200);
      expect(again.body).toEqual(r.body);
    });

    it('takes instant email and the deprecated instant endpoint', async () => {
      const email = await g.call('POST', '/future/orders/instant/email', {
        idempotencyId: 'otp-mail-1',
        recipientEmail: {
          emailAddress: 'a@example.com',
          emailSettings: { subject: 'Kode', body: '1234', contentType: 'Html' },
        },
      });
      expect(email.status).toBe(201);
      const legacy = await g.call('POST', '/future/orders/instant', {
        idempotencyId: 'otp-legacy-1',
        recipient: {
          recipientSms: { phoneNumber: '+4799999999', timeToLiveInSeconds: 60, smsSettings: { body: 'x' } },
        },
      });
      expect(legacy.status).toBe(201);
    });

    it('validates time-to-live and numbers with the reference messages', async () => {
      for (const ttl of [59, 172_801]) {
        const r = await g.call(
          'POST',
          '/future/orders/instant/sms',
          instantSms(`ttl-${ttl}`, { timeToLiveInSeconds: ttl }),
        );
        expect(r.status).toBe(400);
        expect(r.body.errors).toEqual({
          'RecipientSms.TimeToLiveInSeconds': ['Time-to-live must be between 60 and 172800 seconds (48 hours).'],
        });
      }
      const bad = await g.call(
        'POST',
        '/future/orders/instant/sms',
        instantSms('bad-number', { phoneNumber: '+479999999' }),
      );
      expect(bad.body.errors).toEqual({
        'RecipientSms.PhoneNumber': ['Recipient phone number is not a valid mobile number.'],
      });
    });

    it('answers 503 NOT-00004 and stores nothing when Kafka cannot take the order', async () => {
      const broken = await startTestGateway('gw-no-topics', { provisionTopics: false, publishTimeoutMs: 1_500 });
      try {
        const r = await broken.call('POST', '/future/orders/instant/sms', instantSms('otp-down'));
        expect(r.status).toBe(503);
        expect(r.body).toMatchObject({ errorCode: 'NOT-00004' });
        const id = (r.body as { notification?: { shipmentId: string } }).notification?.shipmentId;
        expect(id).toBeUndefined();
        // the idempotency key was released and the view holds nothing
        expect((await broken.call('POST', '/future/orders/instant/sms', instantSms('otp-down'))).status).toBe(503);
        expect(await broken.redis.keys(`${broken.prefix}view:*`)).toEqual([]);
      } finally {
        await broken.close();
      }
    });
  });

  describe('email delivery reports', () => {
    const post = (body: unknown, key = EMAIL_REPORT_KEY) =>
      fetch(`${g.root}/notifications/email/api/v1/reports?accesskey=${key}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const report = (messageId: string, status: string) => [
      {
        id: randomUUID(),
        eventType: 'Microsoft.Communication.EmailDeliveryReportReceived',
        data: { messageId, status, deliveryStatusDetails: { statusMessage: `${status} by the provider` } },
      },
    ];

    it('refuses a wrong access key, answers the subscription handshake', async () => {
      const denied = await post(report('x', 'Delivered'), 'wrong-key');
      expect(denied.status).toBe(401);
      expect(await denied.json()).toEqual({ error: 'Unauthorized client' });
      const handshake = await post([
        { id: '1', eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', data: { validationCode: 'abc-123' } },
      ]);
      expect(await handshake.json()).toEqual({ validationResponse: 'abc-123' });
    });

    it('turns reports into the email statuses of the notification the Message-ID belongs to', async () => {
      const cases = [
        ['Delivered', 'Email_Delivered'],
        ['Bounced', 'Email_Failed_Bounced'],
        ['FilteredSpam', 'Email_Failed_FilteredSpam'],
        ['Quarantined', 'Email_Failed_Quarantined'],
        ['Suppressed', 'Email_Failed_SuppressedRecipient'],
        ['Failed', 'Email_Failed'],
      ] as const;
      const ids = new Map<string, string>();
      for (const [status] of cases) {
        const messageId = `<${randomUUID()}@altinn.cloud>`;
        const notificationId = randomUUID();
        ids.set(notificationId, status);
        await g.refs.put(messageId, {
          notificationId,
          orderId: notificationId,
          creator: 'ttd',
          destination: 'a@example.com',
          expiresAt: null,
          requestedSendTime: Date.now() - 5_000,
        });
        expect((await post(report(messageId, status))).status).toBe(200);
      }
      // the one Delivered report is timed from its requested send time (5 s ago)
      const metrics = await (await fetch(`${g.root}/metrics`)).text();
      expect(metrics).toMatch(/^notifications_delivery_latency_seconds_count\{channel="email"\} 1$/m);
      expect(metrics).toMatch(/^notifications_delivery_latency_seconds_bucket\{le="2.5",channel="email"\} 0$/m);
      expect(metrics).toMatch(/^notifications_delivery_latency_seconds_bucket\{le="10",channel="email"\} 1$/m);
      const events: Buffer[] = [];
      await g.kafka.readSince(topicName(g.prefix, 'status'), 0, (r) => void events.push(r.value!));
      const decoded = (await Promise.all(events.map((b) => g.codec.decode('status', b)))).filter((e) =>
        ids.has(e.notificationId ?? ''),
      );
      for (const [status, lifecycle] of cases) {
        const e = decoded.find((d) => ids.get(d.notificationId!) === status)!;
        expect(e).toMatchObject({ status: lifecycle, channel: 'Email', destination: 'a@example.com' });
      }
      expect((await post(report('<unknown@altinn.cloud>', 'Delivered'))).status).toBe(404);
    });

    it('lets a reference go once its report is in, and answers that report sent again without a second event', async () => {
      const messageId = `<${randomUUID()}@altinn.cloud>`;
      const notificationId = randomUUID();
      await g.refs.put(messageId, {
        notificationId,
        orderId: notificationId,
        creator: 'ttd',
        destination: 'a@example.com',
        expiresAt: null,
      });
      const key = `${g.prefix}email-ref:${messageId}`;
      const full = (await g.redis.memory('USAGE', key))!;
      expect((await post(report(messageId, 'Delivered'))).status).toBe(200);
      // the provider sends it again (its answer was lost), and again a different one
      const again = await post(report(messageId, 'Delivered'));
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ accepted: 0 });
      expect((await post(report(messageId, 'Bounced'))).status).toBe(200);
      expect(await g.refs.get(messageId)).toBe('reported');
      expect(await g.redis.ttl(key)).toBeLessThanOrEqual(24 * 3600);
      expect((await g.redis.memory('USAGE', key))!).toBeLessThan(full * 0.6);
      const events: Buffer[] = [];
      await g.kafka.readSince(topicName(g.prefix, 'status'), 0, (r) => void events.push(r.value!));
      const mine = (await Promise.all(events.map((b) => g.codec.decode('status', b)))).filter(
        (e) => e.notificationId === notificationId,
      );
      expect(mine.map((e) => e.status)).toEqual(['Email_Delivered']);
      // a reference never reported is kept a day past its notification's expiry (its Failed_TTL
      // is final by then), not the ledger's weeks
      const expiring = `<${randomUUID()}@altinn.cloud>`;
      const ref = { notificationId, orderId: notificationId, creator: 'ttd', destination: 'a@example.com' };
      const refs = new DeliveryRefs(g.redis, `${g.prefix}email-`, 14 * 24 * 3600);
      await refs.put(expiring, { ...ref, expiresAt: Date.now() + 7_200_000 });
      const ttl = await g.redis.ttl(`${g.prefix}email-ref:${expiring}`);
      expect(ttl).toBeGreaterThan(26 * 3600 - 60);
      expect(ttl).toBeLessThanOrEqual(26 * 3600);
    });
  });

  describe('abuse resistance', () => {
    it('refuses condition endpoints that name loopback, link-local or private addresses (strict policy)', async () => {
      const strict = await startTestGateway('gw-egress', { prefix: g.prefix, strictEgress: true });
      try {
        for (const url of [
          'http://127.0.0.1:8080/c',
          'http://localhost/c',
          'http://169.254.169.254/latest/meta-data',
          'http://10.1.2.3/c',
          'http://[::1]/c',
        ]) {
          const r = await strict.call(
            'POST',
            '/future/orders',
            emailChain(`egress-${url}`, { conditionEndpoint: url }),
          );
          expect(r.status).toBe(400);
          expect(r.body.errors).toEqual({
            ConditionEndpoint: ['ConditionEndpoint must not address loopback, link-local or private networks.'],
          });
        }
        const ok = await strict.call(
          'POST',
          '/future/orders',
          emailChain('egress-ok', { conditionEndpoint: 'https://example.com/c' }),
        );
        expect(ok.status).toBe(201);
      } finally {
        await strict.close();
      }
    });

    it('limits each creator (429 with Retry-After) without touching others', async () => {
      const limited = await startTestGateway('gw-rate', { rateLimitPerSecond: 3 });
      try {
        const answers = await Promise.all(
          Array.from({ length: 6 }, () =>
            limited.call('GET', '/orders?sendersReference=x', undefined, { org: 'busy' }),
          ),
        );
        const refused = answers.filter((a) => a.status === 429);
        expect(refused.length).toBeGreaterThanOrEqual(3);
        expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect((await limited.call('GET', '/orders?sendersReference=x', undefined, { org: 'calm' })).status).toBe(200);
      } finally {
        await limited.close();
      }
    });

    it('serves its OpenAPI document and the API page without a token', async () => {
      const doc = (await (await fetch(`${g.root}/openapi.json`)).json()) as {
        openapi: string;
        paths: Record<string, unknown>;
      };
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining(['/future/orders', '/orders/{id}/cancel', '/future/shipment/feed']),
      );
      const page = await fetch(`${g.root}/docs`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('swagger-ui-bundle.js');
      expect((await fetch(`${g.root}/docs/assets/swagger-ui-bundle.js`)).status).toBe(200);
    });
  });
});
