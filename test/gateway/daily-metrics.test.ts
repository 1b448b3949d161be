import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { NoAltinnNotifications, type StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import { dailyExport, exportInWorker, numberOf } from '../../gateway/daily-metrics.ts';
import { type DailyNotification, exportedStatus } from '../../platform/view/store.ts';
import { METRICS_KEY, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { readParquet } from '../support/parquet.ts';
import { sampleOrder, stackEnv } from '../support/stack.ts';

/**
 * The reference's daily metrics exports (`POST /metrics/sms`, `/metrics/email`), read back with
 * Apache Arrow's own Parquet reader (`readParquet`). test/processors/fallback.test.ts reads them
 * after SMS and emails went through the chain, the SMSC simulator and a mail server.
 */

describe('the daily metrics exports (/metrics/sms and /metrics/email under the API base)', () => {
  const now = Date.UTC(2026, 11, 5, 12);
  const yesterday = Date.UTC(2026, 11, 4, 10);
  const dayBefore = Date.UTC(2026, 11, 3, 10);
  let g: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway('daily-metrics', { clock: () => now });
  });
  afterAll(async () => {
    await g?.close();
  });
  const post = (path: string, headers: Record<string, string> = { 'x-api-key': METRICS_KEY }) =>
    fetch(`${g.url}/metrics/${path}`, { method: 'POST', headers });

  /** a notification's events, applied to the view as the pipeline's status-view stage does */
  const events = async (
    order: NotificationOrder,
    channel: 'Sms' | 'Email',
    destination: string,
    steps: [StatusEvent['status'], number, Partial<StatusEvent>?][],
  ) => {
    const notificationId = randomUUID();
    for (const [status, at, extra] of steps)
      await g.view.apply({ ...orderStatus(order, status, at), notificationId, channel, destination, ...extra }, at);
    return notificationId;
  };

  it('exports the SMS whose result was last set on the day, with the columns and headers of the reference', async () => {
    const order = sampleOrder(1, {
      creator: 'ttd',
      sendersReference: 'ref-sms',
      resourceId: 'urn:altinn:resource:app_ttd_test',
      requestedSendTime: dayBefore,
      notificationChannel: 'Sms',
      emailTemplate: null,
      smsTemplate: { senderNumber: 'Altinn', body: 'Hei $recipientName$, æøå' },
    });
    await g.view.putOrder(order);
    const delivered = await events(order, 'Sms', '+4799999999', [
      ['SMS_New', dayBefore, { smsCount: 1, customBodyLength: 27 }],
      ['SMS_Accepted', dayBefore + 1000, { gatewayReference: 'smsc-7' }],
      // (a receipt names the message in its own, canonical form: the submit's is kept)
      ['SMS_Delivered', yesterday, { gatewayReference: 'canonical-7' }],
    ]);
    const abroad = await events(order, 'Sms', '004670123456', [
      ['SMS_New', yesterday, { smsCount: 1 }],
      ['SMS_Accepted', yesterday + 1000, { gatewayReference: 'smsc-8' }],
      ['SMS_Failed_Undelivered', yesterday + 2000],
    ]);
    const reserved = await events(order, 'Sms', '', [['SMS_Failed_RecipientReserved', yesterday + 3000]]);
    // not yet a result, and a result of the day before
    await events(order, 'Sms', '+4791111111', [
      ['SMS_New', yesterday],
      ['SMS_Accepted', yesterday + 1000, { gatewayReference: 'smsc-9' }],
    ]);
    const earlier = await events(order, 'Sms', '+4792222222', [['SMS_Failed_InvalidRecipient', dayBefore + 5000]]);
    // an email of the same day is the other export's
    await events(order, 'Email', 'a@example.com', [['Email_Failed_Bounced', yesterday]]);

    const res = await post('sms');
    expect(res.status).toBe(200);
    const file = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toBe(
      "attachment; filename=20261204_sms_notifications_Unknown.parquet; filename*=UTF-8''20261204_sms_notifications_Unknown.parquet",
    );
    expect(res.headers.get('x-file-hash')).toBe(createHash('md5').update(file).digest('base64'));
    expect(res.headers.get('x-file-size')).toBe(String(file.length));
    expect(res.headers.get('x-total-filetransfer-count')).toBe('3');
    expect(res.headers.get('x-generated-at')).toBe('2026-12-05T12:00:00.0000000+00:00');
    expect(res.headers.get('x-environment')).toBe('Unknown');

    const read = readParquet(file);
    const str = (name: string) => ({ name, type: 'string', nullable: true });
    expect(read.schema).toEqual([
      { name: 'SmsId', type: 'int64', nullable: false },
      str('ShipmentId'),
      str('SendersReference'),
      str('RequestedSendTime'),
      str('CreatorName'),
      str('ResourceId'),
      str('Result'),
      str('GatewayReference'),
      str('Rate'),
      str('MobileNumberPrefix'),
      { name: 'AltinnSmsCount', type: 'int32', nullable: false },
      { name: 'AltinnSmsBodyLength', type: 'int32', nullable: true },
      { name: 'AltinnSmsCustomBodyLength', type: 'int32', nullable: false },
    ]);
    const row = (id: string, extra: Record<string, unknown>) => ({
      SmsId: Number(numberOf(id)),
      ShipmentId: order.orderId,
      SendersReference: 'ref-sms',
      RequestedSendTime: '2026-12-03T10:00:00.000Z',
      CreatorName: 'ttd',
      ResourceId: 'urn:altinn:resource:app_ttd_test',
      AltinnSmsCount: 1,
      AltinnSmsBodyLength: 24,
      AltinnSmsCustomBodyLength: 0,
      ...extra,
    });
    // (JSON's numbers: the ids compared within 2^53 here, exactly by `ids`; in no particular
    // order, as the reference's query)
    const byResult = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      String(a.Result).localeCompare(String(b.Result));
    expect(read.rows.map((r) => ({ ...r, SmsId: Number(r.SmsId) })).sort(byResult)).toEqual(
      [
        row(delivered, {
          Result: 'Delivered',
          GatewayReference: 'smsc-7',
          Rate: 'innland',
          MobileNumberPrefix: '+479',
          AltinnSmsCustomBodyLength: 27,
        }),
        row(abroad, {
          Result: 'Failed_Undelivered',
          GatewayReference: 'smsc-8',
          Rate: 'utland',
          MobileNumberPrefix: '0046',
        }),
        row(reserved, {
          Result: 'Failed_RecipientReserved',
          GatewayReference: null,
          Rate: 'n/a',
          MobileNumberPrefix: null,
        }),
      ].sort(byResult),
    );
    expect(read.ids.sort()).toEqual([delivered, abroad, reserved].map((id) => String(numberOf(id))).sort());

    // another day the view keeps, by ?date=
    const before = await post('sms?date=2026-12-03');
    expect(before.headers.get('content-disposition')).toContain('20261203_sms_notifications_Unknown.parquet');
    const older = readParquet(Buffer.from(await before.arrayBuffer()));
    expect(older.rows.map((r) => [r.ShipmentId, r.Result, r.Rate])).toEqual([
      [order.orderId, 'Failed_InvalidRecipient', 'innland'],
    ]);
    expect(earlier).toBeTruthy();

    // a result of a day older than the sets are kept (a rebuild re-applies a year of them) is in
    // no set: the view has it, the exports do not
    const old = Date.UTC(2026, 10, 26, 10);
    const stale = await events(order, 'Sms', '+4793333333', [['SMS_Failed_InvalidRecipient', old]]);
    expect((await g.view.get(order.orderId))?.notifications.find((n) => n.id === stale)?.status).toBe(
      'SMS_Failed_InvalidRecipient',
    );
    const pages = [];
    for await (const page of g.view.dailyPages('sms', '2026-11-26')) pages.push(page);
    expect(pages).toEqual([]);
  });

  it('numbers a notification by the first 63 bits of its id', () => {
    expect(numberOf('0b3c5e1a-1234-4abc-8def-0123456789ab')).toBe(0x0b3c5e1a12344abcn);
    expect(numberOf('ffffffff-ffff-4fff-bfff-ffffffffffff')).toBe(0x7fffffffffff4fffn);
    expect(numberOf('0b3c5e1a12344abc8def0123456789ab')).toBe(0x0b3c5e1a12344abcn);
  });

  it('exports the emails past Succeeded, with the mail server’s reference as OperationId', async () => {
    const order = sampleOrder(2, { creator: 'nav', sendersReference: null, requestedSendTime: yesterday });
    await g.view.putOrder(order);
    const bounced = await events(order, 'Email', 'x@example.com', [
      ['Email_New', yesterday],
      ['Email_Succeeded', yesterday + 1000, { gatewayReference: '<m1@mx>' }],
      ['Email_Failed_Bounced', yesterday + 2000],
    ]);
    // Succeeded is not a result yet; a transient error is New again
    await events(order, 'Email', 'y@example.com', [
      ['Email_New', yesterday],
      ['Email_Succeeded', yesterday + 1000, { gatewayReference: '<m2@mx>' }],
    ]);
    await events(order, 'Email', 'z@example.com', [
      ['Email_New', yesterday],
      ['Email_Failed_TransientError', yesterday + 1000],
    ]);
    const res = await post('email');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename=20261204_email_notifications_Unknown\.parquet;/,
    );
    const read = readParquet(Buffer.from(await res.arrayBuffer()));
    expect(read.schema.map((c) => [c.name, c.type, c.nullable])).toEqual([
      ['EmailId', 'int64', false],
      ['ShipmentId', 'string', true],
      ['SendersReference', 'string', true],
      ['RequestedSendTime', 'string', true],
      ['CreatorName', 'string', true],
      ['ResourceId', 'string', true],
      ['Result', 'string', true],
      ['OperationId', 'string', true],
    ]);
    // (the other test's bounced email, of another order, is the same day's too)
    const mine = read.rows.filter((r) => r.ShipmentId === order.orderId);
    expect(mine.map((r) => ({ ...r, EmailId: Number(r.EmailId) }))).toEqual([
      {
        EmailId: Number(numberOf(bounced)),
        ShipmentId: order.orderId,
        SendersReference: null,
        RequestedSendTime: '2026-12-04T10:00:00.000Z',
        CreatorName: 'nav',
        ResourceId: null,
        Result: 'Failed_Bounced',
        OperationId: '<m1@mx>',
      },
    ]);
    expect(read.rows).toHaveLength(2);
  });

  /** open files of this process that are daily exports (removed from the folder, still open) */
  const openExports = () =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).includes('daily-export-');
      } catch {
        return false;
      }
    });

  it('exports a day of more than a page and a row group, each notification once, from a file it leaves nowhere', async () => {
    // (the set read in pages of DAILY_PAGE, the file written in row groups of ROW_GROUP)
    const day = Date.UTC(2026, 11, 1, 9);
    const expected = new Map<string, string>();
    for (let o = 0; o < 24; o++) {
      const order = sampleOrder(100 + o, {
        requestedSendTime: day,
        notificationChannel: 'Sms',
        emailTemplate: null,
        smsTemplate: { senderNumber: 'Altinn', body: 'Kode' },
      });
      await g.view.putOrder(order);
      const batch = [];
      for (let i = 0; i < 500; i++) {
        const notificationId = randomUUID();
        const ref = `smsc-${o}-${i}`;
        expected.set(String(numberOf(notificationId)), ref);
        const base = { notificationId, channel: 'Sms' as const, destination: '+4799999999' };
        batch.push(
          { event: { ...orderStatus(order, 'SMS_Accepted', day + i), ...base, gatewayReference: ref }, source: '' },
          { event: { ...orderStatus(order, 'SMS_Delivered', day + i + 1), ...base }, source: '' },
        );
      }
      for (const r of await g.view.applyAll(batch, now)) expect(r).not.toBeInstanceOf(Error);
    }
    const res = await post('sms?date=2026-12-01');
    expect(res.status).toBe(200);
    const file = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('x-total-filetransfer-count')).toBe('12000');
    expect(res.headers.get('x-file-size')).toBe(String(file.length));
    expect(res.headers.get('content-length')).toBe(String(file.length));
    expect(res.headers.get('x-file-hash')).toBe(createHash('md5').update(file).digest('base64'));
    const read = readParquet(file);
    expect(read.rowGroups).toBe(2);
    expect(read.rows).toHaveLength(12000);
    expect(new Set(read.ids).size).toBe(12000);
    expect(new Map(read.ids.map((id, i) => [id, read.rows[i]!.GatewayReference]))).toEqual(expected);
    expect(new Set(read.rows.map((r) => r.Result))).toEqual(new Set(['Delivered']));
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('daily-export-'))).toEqual([]);
    await vi.waitFor(() => expect(openExports()).toEqual([]));

    // a client that stops reading mid-way: the file is closed all the same
    const gone = await post('sms?date=2026-12-01');
    expect(gone.status).toBe(200);
    const reader = gone.body!.getReader();
    await reader.read();
    await reader.cancel();
    await vi.waitFor(() => expect(openExports()).toEqual([]));
  });

  it('stops an export in its worker when its client goes away, and leaves no file open', async () => {
    // (the 12,000 SMS of 2026-12-01 above; the signal aborts before the worker has begun)
    const store = { redis: { url: stackEnv().REDIS_URL }, prefix: g.prefix, heapMb: 256 };
    const job = { channel: 'sms' as const, day: '2026-12-01', environment: 'Test', now };
    const gone = new AbortController();
    const stopped = exportInWorker(store)(job, gone.signal);
    gone.abort();
    await expect(stopped).rejects.toThrow('the client went away');
    expect(openExports()).toEqual([]);
    // and the same export, not stopped, comes whole
    const whole = await exportInWorker(store)(job, new AbortController().signal);
    expect(whole.rows).toBe(12000);
    expect(openExports()).toHaveLength(1);
    await whole.file.close();
    expect(openExports()).toEqual([]);
  });

  it('stops an export whose client went away, and closes its file', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const stop = new AbortController();
    async function* pages(): AsyncGenerator<DailyNotification[]> {
      yield [];
      await held;
      yield [];
    }
    const running = dailyExport('email', '2026-12-04', pages(), 'Test', now, stop.signal);
    await vi.waitFor(() => expect(openExports()).toHaveLength(1));
    stop.abort(new Error('the client went away'));
    release();
    await expect(running).rejects.toThrow('the client went away');
    expect(openExports()).toEqual([]);
  });

  it('lists a notification in its day by the same rule in the view’s script as in the reader, for every status', async () => {
    const statuses = (
      JSON.parse(NoAltinnNotifications.ProcessingLifecycleSchema) as { symbols: StatusEvent['status'][] }
    ).symbols.filter((s) => s.startsWith('SMS_') || s.startsWith('Email_'));
    const at = Date.UTC(2026, 11, 2, 10);
    const order = sampleOrder(3, { requestedSendTime: at });
    await g.view.putOrder(order);
    for (const status of statuses) {
      const sms = status.startsWith('SMS_');
      await events(order, sms ? 'Sms' : 'Email', sms ? '+4799999999' : 'a@example.com', [[status, at]]);
    }
    // what the view holds for each (a transient error is New again)
    const held = new Map((await g.view.get(order.orderId))!.notifications.map((n) => [n.id, n.status]));
    expect(held.size).toBe(statuses.length);
    const inSets = [];
    for (const channel of ['s', 'e'])
      for (const m of await g.redis.smembersBuffer(`${g.prefix}view:daily:${channel}:2026-12-02`))
        inSets.push(
          m
            .subarray(16, 32)
            .toString('hex')
            .replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'),
        );
    const exported = [...held].filter(([, status]) => exportedStatus(status)).map(([id]) => id);
    expect(inSets.sort()).toEqual(exported.sort());
    expect(exported).toHaveLength(statuses.length - 7);
    // (and the reader's re-check keeps each)
    const read = [];
    for (const channel of ['sms', 'email'] as const)
      for await (const page of g.view.dailyPages(channel, '2026-12-02'))
        read.push(...page.map((n) => n.notificationId));
    expect(read.sort()).toEqual(exported);
  });

  it('makes an export that outgrows its worker’s heap fail with 500 that says so, and the gateway serves on', async () => {
    // (8 MB: less than a worker takes to start; DAILY_EXPORT_HEAP_MB is at least 32)
    const small = await startTestGateway('daily-metrics-heap', { clock: () => now, exportHeapMb: 8 });
    try {
      const res = await fetch(`${small.url}/metrics/sms`, { method: 'POST', headers: { 'x-api-key': METRICS_KEY } });
      expect([res.status, await res.json()]).toEqual([
        500,
        {
          status: 500,
          title: 'Internal Server Error',
          detail:
            "The day's export needs more memory than this gateway may give one; its operator can raise DAILY_EXPORT_HEAP_MB.",
        },
      ]);
      const page = await fetch(`${small.url}/metrics`, { headers: { 'x-api-key': METRICS_KEY } });
      expect(page.status).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('asks for the metrics key, and answers a bad date 400 and other methods 405', async () => {
    const refused = await post('sms', {});
    expect([refused.status, await refused.json()]).toEqual([401, { error: 'API key required for Metrics endpoints' }]);
    const wrong = await post('email', { 'x-api-key': `${METRICS_KEY}x` });
    expect([wrong.status, await wrong.json()]).toEqual([401, { error: 'Invalid API key' }]);
    const errors = async (date: string) => {
      const res = await post(`sms?date=${date}`);
      expect(res.status).toBe(400);
      return ((await res.json()) as { errors: Record<string, string[]> }).errors;
    };
    expect(await errors('2026-02-30')).toEqual({ date: ["The value '2026-02-30' is not a date (YYYY-MM-DD)."] });
    expect(await errors('2026-12-06')).toEqual({ date: ['The date must not be in the future (UTC).'] });
    expect(await errors('2026-11-27')).toEqual({ date: ['The date must be today or one of the 7 days before (UTC).'] });
    const weekAgo = await post('sms?date=2026-11-28');
    expect(weekAgo.status).toBe(200);
    const today = await post('sms?date=2026-12-05');
    expect([today.status, today.headers.get('x-total-filetransfer-count')]).toEqual([200, '0']);
    const get = await fetch(`${g.url}/metrics/sms`, { headers: { 'x-api-key': METRICS_KEY } });
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
  });
});
