import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConditionClient } from '../../platform/http/condition-client.ts';
import { networkInterfaces } from 'node:os';
import { EgressGuard, embeddedIpv4, ipv6Groups, STRICT_EGRESS } from '../../platform/http/egress.ts';
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
    // every range of IANA's special-purpose registries, and embedded IPv4 forms
    ['192.0.0.8', false],
    ['192.0.2.1', false],
    ['198.18.0.1', false],
    ['198.19.255.254', false],
    ['198.51.100.7', false],
    ['203.0.113.9', false],
    ['192.31.196.1', false],
    ['192.52.193.1', false],
    ['192.88.99.1', false],
    ['192.175.48.1', false],
    ['240.0.0.1', false],
    ['255.255.255.255', false],
    ['224.0.0.1', false],
    ['64:ff9b::808:808', false],
    ['64:ff9b:1::1', false],
    ['100::1', false],
    ['2001::1', false],
    ['2001:2::1', false],
    ['2001:db8::1', false],
    ['2002:808:808::1', false],
    ['2620:4f:8000::1', false],
    ['3fff::1', false],
    ['5f00::1', false],
    ['fec0::1', false],
    ['::', false],
    ['::8.8.8.8', false],
    ['::ffff:7f00:1', false],
    ['0:0:0:0:0:ffff:7f00:1', false],
    ['::ffff:192.0.2.1', false],
    ['::ffff:8.8.8.8', true],
    ['fe80::1%eth0', false],
  ])('by default, %s is %s', (ip, allowed) => {
    expect(strict.allows(ip)).toBe(allowed);
  });

  it("refuses the host's own interface addresses, whatever their range", () => {
    const own = Object.values(networkInterfaces())
      .flat()
      .map((i) => i!.address);
    expect(own.length).toBeGreaterThan(0);
    for (const address of own) {
      expect(strict.allows(address), address).toBe(false);
      const opened = new EgressGuard({ allowLoopback: true, allowPrivate: true });
      const loopback = address.startsWith('127.') || address === '::1';
      expect(opened.allows(address), address).toBe(loopback);
    }
  });

  it('reads IPv6 text as its groups, compressed or with a dotted quad', () => {
    expect(ipv6Groups('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
    expect(ipv6Groups('1::8')).toEqual([1, 0, 0, 0, 0, 0, 0, 8]);
    expect(ipv6Groups('1::2::3')).toBeNull();
    expect(ipv6Groups('1:2:3:4:5:6:7:8:9')).toBeNull();
    expect(embeddedIpv4('2002:c000:0201::')).toBe('192.0.2.1');
    expect(embeddedIpv4('64:ff9b::7f00:1')).toBe('127.0.0.1');
    expect(embeddedIpv4('2001:4860::8888')).toBeNull();
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
