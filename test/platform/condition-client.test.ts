import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConditionClient } from '../../platform/http/condition-client.ts';
import { EgressGuard, STRICT_EGRESS } from '../../platform/http/egress.ts';
import { startConditionServer } from '../support/condition-server.ts';

describe('egress policy', () => {
  const strict = new EgressGuard(STRICT_EGRESS);
  it.each([
    ['127.0.0.1', false],
    ['10.1.2.3', false],
    ['172.20.0.1', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['::1', false],
    ['fe80::1', false],
    ['fd00::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['8.8.8.8', true],
    ['2001:4860:4860::8888', true],
    ['not-an-ip', false],
  ])('by default, %s is %s', (ip, allowed) => {
    expect(strict.allows(ip)).toBe(allowed);
  });

  it('can allow loopback (local runs and tests) but never link-local', () => {
    const local = new EgressGuard({ allowLoopback: true, allowPrivate: false });
    expect(local.allows('127.0.0.1')).toBe(true);
    expect(local.allows('10.0.0.1')).toBe(false);
    expect(new EgressGuard({ allowLoopback: true, allowPrivate: true }).allows('169.254.169.254')).toBe(false);
  });
});

describe('condition endpoint client', () => {
  let server: Awaited<ReturnType<typeof startConditionServer>>;
  const client = new ConditionClient({
    guard: new EgressGuard({ allowLoopback: true, allowPrivate: false }),
    timeoutMs: 500,
  });
  beforeAll(async () => {
    server = await startConditionServer();
  });
  afterAll(() => server.close());

  it('reads sendNotification true and false', async () => {
    expect(await client.check(`${server.base}/true`)).toEqual({ kind: 'met' });
    expect(await client.check(`${server.base}/false`)).toEqual({ kind: 'not-met' });
  });

  it.each([
    ['/500', /Unsuccessful response\. First 50 character received: \{"error":"the condition service failed"\}/],
    ['/empty', /Response body is empty/],
    ['/malformed', /not valid JSON/],
    ['/wrongcase', /No condition response in the body/],
    ['/redirect', /status 302/],
    ['/silent', /no answer in 500 ms/],
  ])('calls %s inconclusive', async (path, reason) => {
    const r = await client.check(`${server.base}${path}`);
    expect(r.kind).toBe('inconclusive');
    expect(r.kind === 'inconclusive' && r.reason).toMatch(reason);
  });

  it('calls a refused connection inconclusive', async () => {
    const r = await client.check('http://127.0.0.1:1/true');
    expect(r).toMatchObject({ kind: 'inconclusive', reason: expect.stringMatching(/request failed: .*ECONNREFUSED/) });
  });

  it('never connects to an address the policy refuses, by IP or through DNS', async () => {
    const strict = new ConditionClient({ guard: new EgressGuard(STRICT_EGRESS), timeoutMs: 500 });
    const before = server.calls.get('/true') ?? 0;
    expect(await strict.check(`${server.base}/true`)).toMatchObject({
      kind: 'inconclusive',
      reason: expect.stringMatching(/127\.0\.0\.1 is refused/),
    });
    const port = new URL(server.base).port;
    expect(await strict.check(`http://localhost:${port}/true`)).toMatchObject({
      kind: 'inconclusive',
      reason: expect.stringMatching(/of localhost is refused by the egress policy/),
    });
    expect(await strict.check('http://[::1]:80/true')).toMatchObject({
      kind: 'inconclusive',
      reason: expect.stringMatching(/::1 is refused/),
    });
    expect(await strict.check('http://169.254.169.254/latest/meta-data')).toMatchObject({ kind: 'inconclusive' });
    expect(server.calls.get('/true') ?? 0).toBe(before);
  });

  it('refuses non-http schemes without a request', async () => {
    expect(await client.check('file:///etc/passwd')).toMatchObject({
      kind: 'inconclusive',
      reason: expect.stringMatching(/scheme file:/),
    });
  });
});
