import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { mintToken } from '../../gateway/local-tokens.ts';
import { DRAIN_CUT_EXIT_CODE } from '../../platform/logger.ts';
import { freePort, startNodeProcess } from '../support/process.ts';
import { GATEWAY_LISTENING, gatewayEnv, testConfig, uniquePrefix } from '../support/stack.ts';
import { laterProxy } from '../support/tcp-proxy.ts';

/**
 * The gateway process as its clients and its supervisor meet it: its drain (SIGTERM, as
 * Kubernetes and `./dev up` stop it) answers the requests under way and ends within
 * SHUTDOWN_TIMEOUT_MS however its clients behave, and a client that does not send its request
 * whole in time does not hold a connection.
 */
describe('the gateway process', () => {
  const prefix = uniquePrefix('gwstop');
  const config = testConfig(prefix);
  let gateway: ReturnType<typeof startNodeProcess> | null = null;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    gateway?.child.kill('SIGKILL');
    await gateway?.exited;
    gateway = null;
  });

  const start = async (shutdownMs: number, delayMs = 0, extra: Record<string, string> = {}) => {
    gateway = startNodeProcess(
      'gateway/main.ts',
      {
        ...gatewayEnv(config),
        SHUTDOWN_TIMEOUT_MS: String(shutdownMs),
        GATEWAY_SHUTDOWN_DELAY_MS: String(delayMs),
        ...extra,
      },
      GATEWAY_LISTENING,
      { keepAll: true },
    );
    return gateway.ready;
  };

  const orderToken = () =>
    mintToken(readFileSync(process.env.AUTH_PRIVATE_KEY_FILE!, 'utf8'), {
      org: 'ttd',
      scope: 'altinn:serviceowner/notifications.create',
    });
  const anOrder = (idempotencyId: string) => ({
    idempotencyId,
    recipient: {
      recipientEmail: {
        emailAddress: 'stopping@example.com',
        emailSettings: { subject: 's', body: 'b', contentType: 'Plain', sendingTimePolicy: 'Anytime' },
      },
    },
  });

  /**
   * An order's request written by hand on its own connection, its body cut after `sent` bytes:
   * `rest()` sends the remainder, `answer` resolves with what the gateway wrote back after its
   * 100 Continue when the connection ends, `closed` once it has.
   */
  const orderOnTheWay = async (port: number, idempotencyId: string, sent: number) => {
    const body = Buffer.from(JSON.stringify(anOrder(idempotencyId)));
    const token = await orderToken();
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // (asking for a 100 Continue: its answer says the gateway has the request, so it is under
    // way, not an idle connection, when the test goes on)
    const heard = new Promise<void>((resolve) =>
      socket.on('data', () => /^HTTP\/1\.1 100 Continue\r\n\r\n/.test(received) && resolve()),
    );
    socket.write(
      `POST /notifications/api/v1/future/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    );
    await heard;
    socket.write(body.subarray(0, sent));
    return {
      // (not an end: Node's server takes a client's half close as the request given up)
      rest: () => socket.write(body.subarray(sent)),
      answer: closed.then(() => received.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '')),
      closed,
    };
  };

  it('told to stop, answers an order whose body was still on its way, then exits 0', async () => {
    const port = await start(30_000);
    const order = await orderOnTheWay(port, `${prefix}on-its-way`, 10);
    gateway!.child.kill('SIGTERM');
    await expect.poll(() => gateway!.output(), { timeout: 10_000 }).toMatch(/"msg":"gateway draining"/);
    order.rest();
    expect(await order.answer).toMatch(/^HTTP\/1\.1 201 /);
    expect(await gateway!.exited).toBe(0);
    expect(gateway!.output()).toMatch(/"msg":"gateway stopped"/);
    expect(gateway!.output()).not.toMatch(/connections are cut/);
  }, 60_000);

  it('told to stop, cuts a request whose body never comes at half its drain bound, and exits 0 within the bound', async () => {
    // Node's own request timeout (5 minutes) would otherwise hold the drain, and Kubernetes
    // would kill the gateway at its grace period with whatever it had not yet written
    const port = await start(4_000);
    const order = await orderOnTheWay(port, `${prefix}never-done`, 10);
    gateway!.child.kill('SIGTERM');
    await order.closed;
    expect(await order.answer).toBe('');
    expect(await gateway!.exited).toBe(0);
    expect(gateway!.output()).toMatch(/"msg":"requests still open at half the drain bound; their connections are cut"/);
    expect(gateway!.output()).toMatch(/"msg":"gateway stopped"/);
    expect(gateway!.output()).not.toMatch(/drain did not finish in time/);
  }, 60_000);

  it('told to stop again while it drains, exits DRAIN_CUT_EXIT_CODE at once', async () => {
    // (an operator's second Ctrl-C: the drain, held by a request whose body never comes, would
    // otherwise go on until half of its bound of a minute)
    const port = await start(60_000);
    const order = await orderOnTheWay(port, `${prefix}stopped-twice`, 10);
    gateway!.child.kill('SIGTERM');
    await expect
      .poll(() => gateway!.output(), { timeout: 10_000 })
      .toMatch(/"msg":"gateway no longer takes connections"/);
    const again = Date.now();
    gateway!.child.kill('SIGINT');
    expect(await gateway!.exited).toBe(DRAIN_CUT_EXIT_CODE);
    expect(Date.now() - again).toBeLessThan(10_000);
    expect(gateway!.output()).toMatch(
      /"signal":"SIGINT".*"msg":"stopped again while draining; exiting without finishing the drain"/,
    );
    expect(await order.answer).toBe('');
  }, 60_000);

  it('told to stop, takes new requests for GATEWAY_SHUTDOWN_DELAY_MS, its health 503 and each answer closing its connection, then stops listening', async () => {
    // a load balancer (Kubernetes' endpoints) learns of the stop a few seconds after the
    // gateway does, and sends it new connections meanwhile: refused, they would fail
    const port = await start(20_000, 8_000);
    const base = `http://127.0.0.1:${port}`;
    gateway!.child.kill('SIGTERM');
    await expect.poll(() => gateway!.output(), { timeout: 10_000 }).toMatch(/"msg":"gateway draining"/);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(503);
    expect(health.headers.get('connection')).toBe('close');
    // (alive all the same: its liveness is not its readiness)
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    const token = await orderToken();
    const order = await fetch(`${base}/notifications/api/v1/future/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(anOrder(`${prefix}during-delay`)),
    });
    expect(order.status).toBe(201);
    expect(order.headers.get('connection')).toBe('close');
    expect(gateway!.output()).not.toMatch(/gateway no longer takes connections/);
    // then it stops listening, and exits once drained
    expect(await gateway!.exited).toBe(0);
    expect(gateway!.output()).toMatch(/"msg":"gateway no longer takes connections"/);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  }, 60_000);

  it('answers 408 to a request not received whole within GATEWAY_REQUEST_TIMEOUT_MS, and closes its connection', async () => {
    // Node's own bound is 5 minutes: a client trickling its bytes held its connection that long
    const port = await start(30_000, 0, { GATEWAY_REQUEST_TIMEOUT_MS: '2000' });
    const order = await orderOnTheWay(port, `${prefix}trickled`, 10);
    expect(await order.answer).toMatch(/^HTTP\/1\.1 408 /);
    // the gateway goes on serving
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  }, 60_000);

  it('starting while Kafka does not answer, is alive, not ready, answers 503 NOT-00004, and takes orders once Kafka answers', async () => {
    // (it exited within a minute before, into its restart's back-off)
    const kafkaLater = await laterProxy(config.KAFKA_BROKERS[0]!);
    const port = await freePort();
    try {
      gateway = startNodeProcess(
        'gateway/main.ts',
        { ...gatewayEnv(config), KAFKA_BROKERS: kafkaLater.address, GATEWAY_PORT: String(port) },
        GATEWAY_LISTENING,
        { keepAll: true },
      );
      // the gateway is another process: its output is polled
      await expect
        .poll(() => gateway!.output(), { timeout: 60_000 })
        .toMatch(/"msg":"provisioning topics and schemas failed while starting; trying again"/);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ ok: false, starting: 'provisioning topics and schemas' });
      const live = await fetch(`http://127.0.0.1:${port}/health/live`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ ok: true, starting: 'provisioning topics and schemas' });
      const post = () =>
        orderToken().then((token) =>
          fetch(`http://127.0.0.1:${port}/notifications/api/v1/future/orders`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(anOrder(`${prefix}while-starting`)),
          }),
        );
      const refused = await post();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(await refused.json()).toMatchObject({ status: 503, errorCode: 'NOT-00004' });
      await kafkaLater.open();
      expect(await gateway.ready).toBe(port);
      // (ready once its Redis connection is too)
      await expect.poll(async () => (await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      expect((await post()).status).toBe(201);
    } finally {
      await kafkaLater.close();
    }
  }, 120_000);

  it('is alive but not ready while Redis does not answer', async () => {
    // Kubernetes restarts a pod whose liveness fails: a gateway restarted over a Redis outage
    // mends nothing, and its back-off held it down after Redis was back
    const port = await start(30_000, 0, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    const ready = await fetch(`http://127.0.0.1:${port}/health`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ok: false, closing: false });
    expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
  }, 60_000);
});
