import { execFileSync } from 'node:child_process';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from '../support/gateway.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { stackEnv, stageEnv } from '../support/stack.ts';

/**
 * The API page as a person uses it, in a real browser (Debian's Chromium, driven by
 * puppeteer-core): it opens `/docs` at 127.0.0.1 (the README's address), authorises with a
 * token, runs "Try it out" for an instant email (POST) and for that shipment (GET), and reads the
 * answers the page shows; then opens the mail sink's page and finds the email, sent by a real
 * send-email stage. This failed before the document's servers were made relative: the page sent
 * its requests to `localhost`, another origin, and their CORS preflight got 401.
 */
const chromium = () =>
  execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser']).toString().trim();

describe('the API page in a browser', () => {
  let g: Awaited<ReturnType<typeof startTestGateway>>;
  let sender: StageProcess | null = null;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const env = stackEnv();
    g = await startTestGateway('api-page');
    sender = startStageProcess(['send-email'], {
      ...stageEnv(g.config),
      SMTP_HOST: env.SMTP_HOST,
      SMTP_PORT: env.SMTP_PORT,
      SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
    });
    browser = await puppeteer.launch({
      executablePath: chromium(),
      // root in a container: Chromium's sandbox needs user namespaces it may not have
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    await sender.running;
  });
  afterAll(async () => {
    await browser?.close();
    sender?.child.kill('SIGTERM');
    await sender?.exited;
    await g?.close();
  });

  /** Expands an operation, presses "Try it out", and returns its block. */
  async function tryOut(method: string, path: string) {
    const block = `.opblock-${method}:has(.opblock-summary-path[data-path="${path}"])`;
    await page.click(`${block} .opblock-summary`);
    await page.waitForSelector(`${block} .try-out__btn`);
    await page.click(`${block} .try-out__btn`);
    return block;
  }

  /** Presses Execute and returns the status code and body the page shows. */
  async function execute(block: string): Promise<{ code: string; body: string }> {
    await page.click(`${block} .execute`);
    const status = `${block} .live-responses-table .response .response-col_status`;
    await page.waitForSelector(status, { timeout: 30_000 });
    return page.$eval(block, (el) => ({
      code: el.querySelector('.live-responses-table .response .response-col_status')?.textContent?.trim() ?? '',
      body: el.querySelector('.live-responses-table .response-col_description pre')?.textContent ?? '',
    }));
  }

  it('authorises, places an instant email and reads its shipment from the page opened at 127.0.0.1, and the mail page shows it', async () => {
    const root = g.root.replace('localhost', '127.0.0.1');
    expect(root).toMatch(/^http:\/\/127\.0\.0\.1:/);
    await page.goto(`${root}/docs`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('.opblock');

    // Authorize: the bearer scheme's token
    await page.click('.auth-wrapper .authorize');
    const bearer = '.auth-container:has(h4 code) form';
    await page.waitForSelector('.modal-ux .auth-container input');
    const containers = await page.$$('.modal-ux .auth-container');
    let authorised = false;
    for (const c of containers) {
      const name = await c.$eval('h4', (h) => h.textContent ?? '');
      if (!/bearer/i.test(name)) continue;
      const input = (await c.$('input'))!;
      await input.type(await g.token('ttd'));
      await (await c.$('button.authorize'))!.click();
      authorised = true;
      break;
    }
    expect(authorised, `no bearer scheme in the Authorize dialog (${bearer})`).toBe(true);
    await page.click('.modal-ux .btn-done');

    // POST an instant email
    const subject = `api page ${g.prefix}`;
    const post = await tryOut('post', '/future/orders/instant/email');
    const body = JSON.stringify({
      idempotencyId: `${g.prefix}page-1`,
      recipientEmail: {
        emailAddress: 'page@example.com',
        emailSettings: { subject, body: 'sent from the API page' },
      },
    });
    // replace the example the page fills in, as a person would: select all, type
    await page.focus(`${post} textarea.body-param__text`);
    await page.keyboard.down('Control');
    await page.keyboard.press('KeyA');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    await page.type(`${post} textarea.body-param__text`, body);
    const placed = await execute(post);
    expect(placed.code, placed.body).toBe('201');
    const shipmentId = (JSON.parse(placed.body) as { notification: { shipmentId: string } }).notification.shipmentId;

    // GET that shipment
    const get = await tryOut('get', '/future/shipment/{id}');
    await page.type(`${get} tr[data-param-name="id"] input`, shipmentId);
    const shipment = await execute(get);
    expect(shipment.code, shipment.body).toBe('200');
    expect(JSON.parse(shipment.body)).toMatchObject({ shipmentId });

    // and the mail sink's page lists the email send-email sent
    await page.goto(stackEnv().MAIL_WEB_URL, { waitUntil: 'networkidle0' });
    await page.waitForFunction(`document.body.innerText.includes(${JSON.stringify(subject)})`, {
      timeout: 60_000,
      polling: 500,
    });
  });
});
