import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { listenOnFreePort } from '../support/listen.ts';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { importPKCS8, importSPKI, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, lifetimeProblem } from '../../gateway/auth.ts';
import { MAX_LISTED_ERRORS } from '../../gateway/problems.ts';
import { listRoutes } from '../../gateway/routes.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { topicName } from '../../platform/topics.ts';
import { EMAIL_REPORT_KEY, emailChain, startTestGateway, type TestGateway } from '../support/gateway.ts';

const BASE = '/notifications/api/v1';

async function ordersOnTopic(g: TestGateway): Promise<NotificationOrder[]> {
  const out: Buffer[] = [];
  await g.kafka.readSince(topicName(g.prefix, 'orders'), 0, (r) => void out.push(r.value!));
  return Promise.all(out.map((v) => g.codec.decode('orders', v)));
}

const v1Email = (overrides: Record<string, unknown> = {}) => ({
  recipients: [{ emailAddress: 'kari@example.com' }],
  subject: 'Hei',
  body: 'Hallo',
  ...overrides,
});

type OpenApi = {
  paths: Record<string, Record<string, { responses?: Record<string, unknown> }> & { servers?: unknown[] }>;
};

/** Findings of outside testing (issue 12), each asserted at the gateway. */
describe('gateway hardening', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway('hard', { bodyLimitBytes: 512 * 1024 });
  });
  afterAll(async () => {
    await g?.close();
  });

  const sign = async (claims: Record<string, unknown>, exp?: number) => {
    const jwt = new SignJWT({ org: 'ttd', scope: 'altinn:serviceowner/notifications.create', ...claims })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuedAt();
    if (exp !== undefined) jwt.setExpirationTime(exp);
    return jwt.sign(await importPKCS8(g.privatePem, 'RS256'));
  };
  const getWith = (token: string) =>
    fetch(`${g.url}/orders?sendersReference=x`, { headers: { authorization: `Bearer ${token}` } });

  it('refuses a bearer token without exp, or one that lives longer than the configured bound (401)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await getWith(await sign({}))).status).toBe(401);
    expect((await getWith(await sign({}, now + 2 * 3600))).status).toBe(401);
    expect((await getWith(await sign({}, now + 600))).status).toBe(200);
    expect(lifetimeProblem({ exp: now + 100, iat: now - 7200 }, 3600, now)).toMatch(/lives longer/);
    expect(lifetimeProblem({ exp: now + 100 }, 3600, now)).toBeNull();
  });

  it('enforces iss and aud whenever they are configured, and only then', async () => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicKey = await importSPKI(keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'RS256');
    const privateKey = await importPKCS8(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256');
    const token = (iss?: string, aud?: string) => {
      const jwt = new SignJWT({ org: 'ttd', scope: 'altinn:serviceowner/notifications.create' })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuedAt()
        .setExpirationTime('5m');
      if (iss) jwt.setIssuer(iss);
      if (aud) jwt.setAudience(aud);
      return jwt.sign(privateKey);
    };
    const serve = async (options: { issuer?: string; audience?: string }) => {
      const app = express();
      app.get('/who', authenticate(publicKey, options), (_req, res) => {
        res.json({ creator: res.locals.creator });
      });
      const { port, close } = await listenOnFreePort(app);
      const url = `http://127.0.0.1:${port}/who`;
      return {
        status: async (t: string) => (await fetch(url, { headers: { authorization: `Bearer ${t}` } })).status,
        close,
      };
    };
    const idp = 'https://idp.example.test';
    const strict = await serve({ issuer: idp, audience: 'notifications' });
    const open = await serve({});
    try {
      expect(await strict.status(await token(idp, 'notifications'))).toBe(200);
      expect(await strict.status(await token())).toBe(401);
      expect(await strict.status(await token('https://other.example.test', 'notifications'))).toBe(401);
      expect(await strict.status(await token(idp))).toBe(401);
      expect(await strict.status(await token(idp, 'another-api'))).toBe(401);
      // not configured: neither claim is asked for
      expect(await open.status(await token())).toBe(200);
      expect(await open.status(await token('https://other.example.test', 'another-api'))).toBe(200);
    } finally {
      await strict.close();
      await open.close();
    }
  });

  it('answers a body that does not match its Content-Encoding with 400, also on the report webhook', async () => {
    const garbage = Buffer.from('this is not gzip at all');
    const order = await fetch(`${g.url}/future/orders`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await g.token()}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: garbage,
    });
    expect(order.status).toBe(400);
    expect(await order.json()).toMatchObject({
      status: 400,
      errors: { $: [expect.stringContaining('could not be read')] },
    });
    // a real gzip body is read
    const zipped = await fetch(`${g.url}/future/orders`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await g.token()}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: gzipSync(JSON.stringify(emailChain(`gz-${randomUUID()}`))),
    });
    expect(zipped.status).toBe(201);
    const webhook = (key: string) =>
      fetch(`${g.root}/notifications/email/api/v1/reports?accesskey=${key}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: garbage,
      });
    // the key is checked before the body is read
    expect((await webhook('wrong-key')).status).toBe(401);
    expect((await webhook(EMAIL_REPORT_KEY)).status).toBe(400);
  });

  it('answers invalid UTF-8 in a JSON body with 400 and stores nothing', async () => {
    const body = Buffer.concat([Buffer.from(JSON.stringify(emailChain('utf8-bad')).replace('Hei', 'H__'))]);
    const at = body.indexOf('H__');
    body[at + 1] = 0xff;
    body[at + 2] = 0xfe;
    const res = await fetch(`${g.url}/future/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await g.token()}`, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errors: { $: ['The request body is not valid UTF-8.'] } });
    expect((await ordersOnTopic(g)).filter((o) => o.idempotencyId === 'utf8-bad')).toHaveLength(0);
  });

  it('lists at most a bounded number of errors, so an answer is never much larger than its request', async () => {
    const request = JSON.stringify(v1Email({ recipients: Array.from({ length: 60_000 }, () => ({})) }));
    const res = await g.call('POST', '/orders/email', request);
    expect(res.status).toBe(400);
    const size = JSON.stringify(res.body).length;
    expect(Object.keys(res.body.errors as object)).toHaveLength(MAX_LISTED_ERRORS);
    expect(res.body.detail).toMatch(/^60000 properties have errors; the first 50 are listed\.$/);
    expect(size).toBeLessThan(request.length);
  });

  it('answers the Location of a new order chain with the chain, to its creator only', async () => {
    const chain = emailChain(`loc-${randomUUID()}`, {
      reminders: [
        {
          delayDays: 1,
          sendersReference: 'rem-1',
          recipient: {
            recipientEmail: {
              emailAddress: 'ola@example.com',
              emailSettings: { subject: 'Påminnelse', body: 'Husk' },
            },
          },
        },
      ],
    });
    const created = await g.call('POST', '/future/orders', chain);
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    expect(location).toBe(`http://gateway.test${BASE}/orders/chain/${created.body.notificationOrderId as string}`);
    const path = location.replace(`http://gateway.test${BASE}`, '');
    const read = await g.call('GET', path);
    expect(read.status).toBe(200);
    const notification = created.body.notification as { shipmentId: string; reminders: { shipmentId: string }[] };
    expect(read.body).toMatchObject({
      notificationOrderId: created.body.notificationOrderId,
      notification: { shipmentId: notification.shipmentId, type: 'Notification', status: 'Order_Registered' },
      reminders: [{ shipmentId: notification.reminders[0]!.shipmentId, type: 'Reminder', sendersReference: 'rem-1' }],
    });
    expect((await g.call('GET', path, undefined, { org: 'other' })).status).toBe(404);
    expect((await g.call('GET', `/orders/chain/${randomUUID()}`)).status).toBe(404);
    expect((await g.call('GET', '/orders/chain/not-a-guid')).status).toBe(404);
  });

  it('takes dialogportenAssociation ids as plain strings, as the reference does', async () => {
    const id = `dp-${randomUUID()}`;
    const res = await g.call(
      'POST',
      '/future/orders',
      emailChain(id, { dialogportenAssociation: { dialogId: 'dialog 17', transmissionId: '' } }),
    );
    expect(res.status).toBe(201);
    const order = (await ordersOnTopic(g)).find((o) => o.idempotencyId === id)!;
    expect(order.dialogportenAssociation).toEqual({ dialogId: 'dialog 17', transmissionId: '' });
    const wrongType = await g.call(
      'POST',
      '/future/orders',
      emailChain(`dp-${randomUUID()}`, {
        dialogportenAssociation: { dialogId: 17 },
      }),
    );
    expect(wrongType.status).toBe(400);
  });

  describe('Idempotency-Key (beyond the reference)', () => {
    it('makes a v1 retry safe: the same key answers 202 with the first order, and orders once', async () => {
      const key = `v1-${randomUUID()}`;
      const first = await g.call('POST', '/orders/email', v1Email(), { headers: { 'idempotency-key': key } });
      const again = await g.call('POST', '/orders/email', v1Email({ subject: 'changed' }), {
        headers: { 'idempotency-key': key },
      });
      expect(first.status).toBe(202);
      expect(again.status).toBe(202);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('location')).toBe(first.headers.get('location'));
      const orders = (await ordersOnTopic(g)).filter((o) => o.orderId === first.body.orderId);
      expect(orders).toHaveLength(1);
      // another organisation's same key is its own
      const other = await g.call('POST', '/orders/email', v1Email(), {
        org: 'nav',
        headers: { 'idempotency-key': key },
      });
      expect(other.body.orderId).not.toBe(first.body.orderId);
      // without a key every request is an order, as in the reference
      const a = await g.call('POST', '/orders/sms', { recipients: [{ mobileNumber: '+4798765432' }], body: 'x' });
      const b = await g.call('POST', '/orders/sms', { recipients: [{ mobileNumber: '+4798765432' }], body: 'x' });
      expect(a.body.orderId).not.toBe(b.body.orderId);
    });

    it('creates one v1 order for 10 concurrent requests with one key', async () => {
      const key = `v1c-${randomUUID()}`;
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          g.call(
            'POST',
            '/orders',
            {
              notificationChannel: 'Email',
              recipients: [{ emailAddress: 'kari@example.com' }],
              emailTemplate: { subject: 's', body: 'b' },
            },
            { headers: { 'idempotency-key': key } },
          ),
        ),
      );
      expect(new Set(answers.map((a) => a.status))).toEqual(new Set([202]));
      const ids = new Set(answers.map((a) => a.body.orderId));
      expect(ids.size).toBe(1);
      const [id] = [...ids];
      expect((await ordersOnTopic(g)).filter((o) => o.orderId === id)).toHaveLength(1);
    });

    it('must equal the idempotencyId where the body has one, and be printable', async () => {
      const id = `k-${randomUUID()}`;
      const mismatch = await g.call('POST', '/future/orders', emailChain(id), {
        headers: { 'idempotency-key': 'other' },
      });
      expect(mismatch.status).toBe(400);
      expect(mismatch.body.errors).toHaveProperty('Idempotency-Key');
      const same = await g.call('POST', '/future/orders', emailChain(id), { headers: { 'idempotency-key': id } });
      expect(same.status).toBe(201);
      const bad = await g.call('POST', '/orders/email', v1Email(), { headers: { 'idempotency-key': ' ' } });
      expect(bad.status).toBe(400);
    });
  });

  describe('the route table and the OpenAPI document', () => {
    let doc: OpenApi;
    beforeAll(async () => {
      doc = (await (await fetch(`${g.root}/openapi.json`)).json()) as OpenApi;
    });
    const docPath = (path: string) =>
      (path.startsWith(BASE) ? path.slice(BASE.length) : path).replace(/:([A-Za-z]+)/g, '{$1}');
    /** where a route is documented: under the API base, or by its full path with a server of its own
     * (the metrics page, whose path under the base is Prometheus' at the root) */
    const docKey = (path: string) => {
      const full = path.replace(/:([A-Za-z]+)/g, '{$1}');
      return path.startsWith(BASE) && full in doc.paths ? full : docPath(path);
    };

    it('documents every route the gateway has, with its method, and names no route it does not have', () => {
      const routes = listRoutes(g.app);
      expect(routes.length).toBeGreaterThan(15);
      for (const r of routes) {
        const item = doc.paths[docKey(r.path)];
        expect(item, `${r.method} ${r.path} is not in the OpenAPI document`).toBeDefined();
        expect(item![r.method.toLowerCase()], `${r.method} ${r.path} is not in the OpenAPI document`).toBeDefined();
        // routes outside the API base name their own server
        if (!r.path.startsWith(BASE)) expect(item!.servers, `${r.path} needs its own server`).toBeDefined();
      }
      const known = new Set(routes.map((r) => `${r.method} ${docKey(r.path)}`));
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const method of Object.keys(item).filter((k) => k !== 'servers' && k !== 'parameters')) {
          expect(known.has(`${method.toUpperCase()} ${path}`), `the document names ${method} ${path}`).toBe(true);
        }
      }
    });

    it('documents every status a route answers to a battery of probes', async () => {
      const token = await g.token();
      const noScope = await g.token('ttd', 'something:else');
      const failures: string[] = [];
      for (const r of listRoutes(g.app)) {
        const url = `${g.root}${r.path.replace(/:([A-Za-z]+)/g, randomUUID())}${
          r.path.endsWith('/reports') ? `?accesskey=${EMAIL_REPORT_KEY}` : ''
        }`;
        const hasBody = r.method === 'POST';
        const probes: { name: string; headers: Record<string, string>; body?: Buffer | string }[] = [
          { name: 'no token', headers: {} },
          { name: 'no scope', headers: { authorization: `Bearer ${noScope}` } },
          { name: 'plain', headers: { authorization: `Bearer ${token}` } },
        ];
        if (hasBody) {
          const auth = { authorization: `Bearer ${token}` };
          probes.push(
            { name: 'text body', headers: { ...auth, 'content-type': 'text/plain' }, body: 'hi' },
            { name: 'broken JSON', headers: { ...auth, 'content-type': 'application/json' }, body: '{"a": ' },
            { name: 'empty object', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' },
            {
              name: 'too large',
              headers: { ...auth, 'content-type': 'application/json' },
              body: `"${'x'.repeat(1_100_000)}"`,
            },
            {
              name: 'bad gzip',
              headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
              body: 'not gzip',
            },
            {
              name: 'bad UTF-8',
              headers: { ...auth, 'content-type': 'application/json' },
              body: Buffer.from([0x22, 0xff, 0x22]),
            },
          );
        }
        for (const p of probes) {
          const res = await fetch(url, {
            method: r.method,
            headers: p.headers,
            ...(p.body !== undefined ? { body: p.body } : {}),
          });
          await res.arrayBuffer();
          const documented = doc.paths[docKey(r.path)]?.[r.method.toLowerCase()]?.responses ?? {};
          if (!(String(res.status) in documented)) failures.push(`${r.method} ${r.path} (${p.name}) → ${res.status}`);
        }
      }
      expect(failures).toEqual([]);
    });

    it('answers a method a path does not have with 405 and Allow, not 404', async () => {
      const res = await fetch(`${g.url}/orders/${randomUUID()}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${await g.token()}` },
      });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      const orders = await fetch(`${g.url}/orders`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${await g.token()}` },
      });
      expect(orders.status).toBe(405);
      expect(orders.headers.get('allow')).toBe('GET, HEAD, POST');
      expect((await fetch(`${g.root}/health`, { method: 'POST' })).status).toBe(405);
      expect(
        (await fetch(`${g.url}/no/such/path`, { headers: { authorization: `Bearer ${await g.token()}` } })).status,
      ).toBe(404);
    });
  });
});
