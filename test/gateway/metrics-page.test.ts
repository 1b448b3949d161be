import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderStatus } from '../../platform/status.ts';
import { METRICS_KEY, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { sampleOrder } from '../support/stack.ts';

/** An order of `creator` to be sent `at`, with one email, written to the gateway's view as the pipeline would. */
async function orderWithEmail(g: TestGateway, i: number, creator: string, at: number): Promise<void> {
  const order = sampleOrder(i, { creator, requestedSendTime: at });
  await g.view.putOrder(order);
  await g.view.apply(
    { ...orderStatus(order, 'Email_New', at), notificationId: randomUUID(), channel: 'Email', requestedSendTime: at },
    at,
  );
}

/**
 * The monthly metrics page (the reference's `MetricsController` and its Razor view), behind the
 * reference's metrics key filter (`MetricsApiKeyFilter`). test/gateway/dashboard.test.ts reads
 * it after orders went through the chain.
 */
describe('the monthly metrics page (/metrics under the API base)', () => {
  let g: TestGateway;
  let keyless: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway('metrics-page', { clock: () => Date.UTC(2026, 11, 5, 12) });
    keyless = await startTestGateway('metrics-keyless', { metricsApiKey: null });
  });
  afterAll(async () => {
    await g?.close();
    await keyless?.close();
  });
  const call = (gw: TestGateway, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${gw.url}/metrics`, init);
  const post = (form: string, headers: Record<string, string> = {}) =>
    call(g, {
      method: 'POST',
      headers: { 'x-api-key': METRICS_KEY, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: form,
    });

  it("asks for the metrics key with the reference's answers, whatever the bearer token", async () => {
    const token = await g.token();
    const refused = async (gw: TestGateway, headers: Record<string, string>) => {
      const res = await call(gw, { headers });
      return [res.status, await res.json()];
    };
    expect(await refused(g, { authorization: `Bearer ${token}` })).toEqual([
      401,
      { error: 'API key required for Metrics endpoints' },
    ]);
    expect(await refused(g, { 'x-api-key': ' ' })).toEqual([401, { error: 'API key cannot be empty' }]);
    expect(await refused(g, { 'x-api-key': `${METRICS_KEY}x` })).toEqual([401, { error: 'Invalid API key' }]);
    expect(await refused(keyless, { 'x-api-key': METRICS_KEY })).toEqual([
      401,
      { error: 'API key validation not configured' },
    ]);
    // a 401 asks a browser for the key (HTTP Basic, any user name); a Bearer token is no key
    const asked = await call(g, { headers: { authorization: `Bearer ${token}` } });
    expect(asked.headers.get('www-authenticate')).toBe('Basic realm="Altinn Notification Metrics", charset="UTF-8"');
    const basic = (password: string) => ({
      authorization: `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}`,
    });
    expect((await call(g, { headers: basic(METRICS_KEY) })).status).toBe(200);
    expect(await refused(g, basic(`${METRICS_KEY}x`))).toEqual([401, { error: 'Invalid API key' }]);
    expect(await refused(g, basic(''))).toEqual([401, { error: 'API key cannot be empty' }]);
    expect(await refused(g, { authorization: 'Basic !!!' })).toEqual([401, { error: 'API key cannot be empty' }]);
    // X-API-Key, when sent, is the key, whatever else is
    expect(await refused(g, { 'x-api-key': `${METRICS_KEY}x`, ...basic(METRICS_KEY) })).toEqual([
      401,
      { error: 'Invalid API key' },
    ]);
    const page = await call(g, { headers: { 'x-api-key': METRICS_KEY } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<h2>Altinn Notification Metrics</h2>');
    // this year and the five before, newest first (the gateway's clock: 2026)
    expect([...html.matchAll(/<option value="(\d{4})">/g)].map((m) => Number(m[1]))).toEqual([
      2026, 2025, 2024, 2023, 2022, 2021,
    ]);
    expect(html).not.toContain('<table');
    const put = await call(g, { method: 'PUT', headers: { 'x-api-key': METRICS_KEY } });
    expect([put.status, put.headers.get('allow')]).toEqual([405, 'GET, HEAD, POST']);
  });

  it("shows a month's counts per creator, as a page or as JSON, and nothing else's", async () => {
    const at = Date.UTC(2026, 9, 15);
    for (const [i, creator] of ['zeta<b>', 'alfa'].entries()) await orderWithEmail(g, i, creator, at);
    const json = await post('month=10&year=2026', { accept: 'application/json' });
    expect(json.status).toBe(200);
    expect(await json.json()).toEqual({
      month: 10,
      year: 2026,
      metrics: ['alfa', 'zeta<b>'].map((org) => ({
        org,
        ordersCreated: 1,
        emailNotificationsCreated: 1,
        successfulEmailNotifications: 0,
        smsNotificationsCreated: 0,
        successfulSmsNotifications: 0,
      })),
    });
    const page = await post('month=10&year=2026');
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('<h2>Metrics for October 2026</h2>');
    // a creator's name is text, never markup
    expect(html).toContain('>zeta&lt;b&gt;</td>');
    expect(html).not.toContain('zeta<b>');
    const september = (await (await post('month=9&year=2026', { accept: 'application/json' })).json()) as {
      metrics: unknown[];
    };
    expect(september.metrics).toEqual([]);
  });

  it('answers a bad form 400 with what is wrong, and a body that is not a form 415', async () => {
    const errors = async (form: string) => {
      const res = await post(form);
      expect(res.status).toBe(400);
      return ((await res.json()) as { errors: Record<string, string[]> }).errors;
    };
    expect(await errors('')).toEqual({
      month: ['The month field is required.'],
      year: ['The year field is required.'],
    });
    expect(await errors('month=13&year=2026')).toEqual({ month: ['The field month must be between 1 and 12.'] });
    expect(await errors('month=ten&year=2026')).toEqual({ month: ["The value 'ten' is not valid for month."] });
    const json = await call(g, {
      method: 'POST',
      headers: { 'x-api-key': METRICS_KEY, 'content-type': 'application/json' },
      body: '{"month":10,"year":2026}',
    });
    expect(json.status).toBe(415);
    const large = await post(`month=10&year=2026&pad=${'x'.repeat(5000)}`);
    expect([large.status, ((await large.json()) as { detail: string }).detail]).toEqual([
      413,
      'The request body exceeds 4096 bytes.',
    ]);
    const latin1 = await call(g, {
      method: 'POST',
      headers: { 'x-api-key': METRICS_KEY, 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from([0x6d, 0x6f, 0x6e, 0x74, 0x68, 0x3d, 0xe6]),
    });
    expect(latin1.status).toBe(400);
  });
});

/**
 * The page as a person opens it, in a real browser (Debian's Chromium, driven by puppeteer-core,
 * as test/gateway/api-page.test.ts): the 401 asks for the key, the browser gives it as HTTP
 * Basic, and the form's POST, which cannot carry X-API-Key, shows the month's table.
 */
describe('the monthly metrics page in a browser', () => {
  let g: TestGateway;
  let browser: Browser;
  beforeAll(async () => {
    g = await startTestGateway('metrics-browser');
    browser = await puppeteer.launch({
      executablePath: execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'])
        .toString()
        .trim(),
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await g?.close();
  });

  it('asks for the key, and with it shows the month a person chooses', async () => {
    const now = Date.now();
    await orderWithEmail(g, 1, 'browser-org', now);
    const page = await browser.newPage();
    // the 401's challenge makes the browser ask for credentials (headless, it has none to give:
    // a 401 without the challenge would just be shown)
    await expect(page.goto(`${g.url}/metrics`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    await page.authenticate({ username: 'support', password: METRICS_KEY });
    const opened = await page.goto(`${g.url}/metrics`);
    expect(opened?.status()).toBe(200);
    await page.select('#month', String(new Date(now).getUTCMonth() + 1));
    await page.select('#year', String(new Date(now).getUTCFullYear()));
    const [shown] = await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    expect(shown?.status()).toBe(200);
    const rows = await page.$$eval('table tbody tr', (trs) =>
      trs.map((tr) =>
        Array.from(tr.querySelectorAll('td'), (td) => (td as { textContent: string | null }).textContent),
      ),
    );
    expect(rows).toContainEqual(['browser-org', '1', '1', '0', '0', '0']);
    await page.close();
  });
});
