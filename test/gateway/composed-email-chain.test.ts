import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPOSED_EMAIL_SCOPE } from '../../gateway/auth.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { startBlobStore } from '../support/blob-store.ts';
import { watchStatuses } from '../support/collector.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import { attachmentsOf, startSmtpSink } from '../support/smtp-sink.ts';
import { eventually, publish, sampleOrder, stageEnv } from '../support/stack.ts';

const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(20_000, 0x5a), Buffer.from('\n%%EOF')]);
const FINAL = new Set<StatusEvent['status']>([
  'Email_Succeeded',
  'Email_Failed',
  'Email_Failed_InvalidSasUrl',
  'Email_Failed_PayloadTooLarge',
  'Email_Failed_TTL',
]);

/**
 * Reference §3.5: `POST /future/orders/composed-email`. The gateway, the chain as deployed
 * (scheduler, prepare-notifications, send-email with its composed lane, the views) in a process
 * of its own, a real HTTPS blob store and a real SMTP server: each file arrives as it was
 * stored, and each way a file can fail shows as the reference's status.
 */
describe('a composed email, through the chain', () => {
  let g: TestGateway;
  let proc: StageProcess | null = null;
  let sink: Awaited<ReturnType<typeof startSmtpSink>>;
  let store: Awaited<ReturnType<typeof startBlobStore>>;
  let watch: Awaited<ReturnType<typeof watchStatuses>> | null = null;
  const statuses: StatusEvent[] = [];
  const composed = (o: { as?: string; scope?: string } = {}) => ({
    org: o.as ?? 'ttd',
    scope: o.scope ?? COMPOSED_EMAIL_SCOPE,
  });
  const order = (to: string, files: { filename: string; mimeType?: string; sasUrl: string }[], id = randomUUID()) => ({
    idempotencyId: id,
    sendersReference: `composed-${id}`,
    recipient: {
      emailAddress: to,
      emailSettings: {
        subject: 'Vedtak',
        body: 'Se vedlegg.',
        attachments: files.map((f) => ({ mimeType: 'application/pdf', ...f })),
      },
    },
  });
  const finalOf = async (orderId: string) => {
    await eventually(
      async () => statuses.some((s) => s.orderId === orderId && FINAL.has(s.status)),
      `a final status of ${orderId}`,
      60_000,
    );
    return statuses.find((s) => s.orderId === orderId && FINAL.has(s.status))!;
  };

  beforeAll(async () => {
    sink = await startSmtpSink();
    store = await startBlobStore();
    g = await startTestGateway('composed', { attachmentHosts: ['127.0.0.1'] });
    watch = await watchStatuses(g.kafka, g.codec, g.prefix, (v) => statuses.push(v), `${g.prefix}composed-status`);
    proc = startStageProcess(['scheduler', 'prepare-notifications', 'send-email', 'order-view', 'status-view'], {
      ...stageEnv(g.config),
      SCHEDULER_POLL_MS: '50',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(sink.port),
      SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
      SMTP_POOL_SIZE: '1',
      COMPOSED_EMAIL_CONCURRENCY: '2',
      EGRESS_ALLOW_LOOPBACK: 'true',
      ATTACHMENT_HOSTS: '127.0.0.1',
      ATTACHMENT_CA_FILE: store.caFile,
      ATTACHMENT_MAX_BYTES: '65536',
      ATTACHMENT_TIMEOUT_MS: '2000',
      ATTACHMENT_RETRY_DELAY_MS: '300',
      ATTACHMENT_RETRY_FOR_MS: '6000',
    });
    await proc.running;
  });

  afterAll(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    await watch?.stop();
    await store?.close();
    await sink?.close();
    await g?.close();
  });

  it('needs its own scope: the create scope alone, or a Platform Access Token, does not open it', async () => {
    const body = order('someone@example.com', [{ filename: 'a.pdf', sasUrl: store.put('scope.pdf', pdf) }]);
    const plain = await g.call('POST', '/future/orders/composed-email', body);
    expect(plain.status).toBe(403);
    expect(plain.body.detail).toBe(`The token must carry the scope ${COMPOSED_EMAIL_SCOPE} and an org claim.`);
    const pat = await fetch(`${g.url}/future/orders/composed-email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', PlatformAccessToken: await g.accessToken('digdir') },
      body: JSON.stringify(body),
    });
    expect(pat.status).toBe(401);
    // and the composed scope opens nothing else
    const other = await g.call('GET', '/future/shipment/feed', undefined, composed());
    expect(other.status).toBe(403);
    const invalid = await g.call('POST', '/future/orders/composed-email', { idempotencyId: 'x' }, composed());
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors).toEqual({ Recipient: ["'Recipient' must not be empty."] });
  });

  it('sends each file as it was stored, once, and answers a repeat with the first answer', async () => {
    const text = Buffer.from('Linje 1\r\nLinje 2\r\n');
    const body = order('mottaker@example.com', [
      { filename: 'Vedtak 2026.pdf', sasUrl: store.put('vedtak.pdf', pdf) },
      { filename: 'les meg.txt', mimeType: 'Text/Plain', sasUrl: store.put('les-meg.txt', text) },
    ]);
    const created = await g.call('POST', '/future/orders/composed-email', body, composed());
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = (created.body.notification as { shipmentId: string }).shipmentId;
    expect(created.headers.get('location')).toBe(
      `http://gateway.test/notifications/api/v1/orders/chain/${created.body.notificationOrderId as string}`,
    );
    const again = await g.call('POST', '/future/orders/composed-email', body, composed());
    expect(again.status).toBe(200);
    expect(again.body).toEqual(created.body);

    const final = await finalOf(id);
    expect(final.status).toBe('Email_Succeeded');
    const n = final.notificationId!;
    expect(sink.accepted.get(n)).toBe(1);
    const files = attachmentsOf(sink.bodies.get(n)!);
    expect(files).toEqual([
      { filename: 'Vedtak 2026.pdf', contentType: 'application/pdf', content: pdf },
      { filename: 'les meg.txt', contentType: 'text/plain', content: text },
    ]);
    // the shipment says what it was
    await eventually(async () => {
      const s = await g.call('GET', `/future/shipment/${id}`);
      return (
        s.status === 200 &&
        s.body.type === 'Composed' &&
        (s.body.recipients as { status: string }[])[0]?.status === 'Email_Succeeded'
      );
    }, 'the shipment to show the composed email sent');
  });

  it('reports a file the storage refuses, files too large together, and a message the server finds too large', async () => {
    const refused = await g.call(
      'POST',
      '/future/orders/composed-email',
      order('a@example.com', [{ filename: 'gone.pdf', sasUrl: store.put('gone.pdf', pdf, { status: 403 }) }]),
      composed(),
    );
    const tooLarge = await g.call(
      'POST',
      '/future/orders/composed-email',
      order('b@example.com', [
        { filename: 'x.pdf', sasUrl: store.put('x.pdf', Buffer.alloc(40_000, 1)) },
        { filename: 'y.pdf', sasUrl: store.put('y.pdf', Buffer.alloc(40_000, 2)) },
      ]),
      composed(),
    );
    const serverSays = await g.call(
      'POST',
      '/future/orders/composed-email',
      order('too-large-552@example.com', [{ filename: 'z.pdf', sasUrl: store.put('z.pdf', pdf) }]),
      composed(),
    );
    const idOf = (r: { body: Record<string, unknown> }) => (r.body.notification as { shipmentId: string }).shipmentId;
    for (const r of [refused, tooLarge, serverSays]) expect(r.status).toBe(201);
    const a = await finalOf(idOf(refused));
    expect(a.status).toBe('Email_Failed_InvalidSasUrl');
    expect(a.description).toBe("the storage answered 403 for 'gone.pdf' (127.0.0.1)");
    expect((await finalOf(idOf(tooLarge))).status).toBe('Email_Failed_PayloadTooLarge');
    expect((await finalOf(idOf(serverSays))).status).toBe('Email_Failed_PayloadTooLarge');
    // neither was handed to SMTP
    expect(sink.messages.filter((m) => m.rcptTo.some((t) => ['a@example.com', 'b@example.com'].includes(t)))).toEqual(
      [],
    );
    // nothing any status or log says carries a SAS signature
    expect(JSON.stringify(statuses)).not.toMatch(/sig=|c2lnbmF0dXJl/);
    expect(proc!.output()).not.toMatch(/sig=|c2lnbmF0dXJl/);
  });

  it('tries a storage that cannot answer again later, holding up no other email, and gives up after ATTACHMENT_RETRY_FOR_MS', async () => {
    const down = await g.call(
      'POST',
      '/future/orders/composed-email',
      order('d@example.com', [{ filename: 'down.pdf', sasUrl: store.put('down.pdf', pdf, { status: 503 }) }]),
      composed(),
    );
    const downId = (down.body.notification as { shipmentId: string }).shipmentId;
    await eventually(async () => store.readsOf('down.pdf') > 0, 'the first try');
    // emails behind it, on its partition too (two partitions), are sent while it waits
    const behind = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const r = await g.call(
          'POST',
          '/future/orders/composed-email',
          order(`e${i}@example.com`, [{ filename: `ok${i}.pdf`, sasUrl: store.put(`ok${i}.pdf`, pdf) }]),
          composed(),
        );
        return (r.body.notification as { shipmentId: string }).shipmentId;
      }),
    );
    for (const id of behind) expect((await finalOf(id)).status).toBe('Email_Succeeded');
    expect(statuses.some((s) => s.orderId === downId && FINAL.has(s.status))).toBe(false);
    const failed = await finalOf(downId);
    expect(failed.status).toBe('Email_Failed');
    expect(failed.description).toBe(
      "the files' storage did not answer for 6 s: the storage answered 503 for 'down.pdf' (127.0.0.1)",
    );
    expect(store.readsOf('down.pdf')).toBeGreaterThan(2);
  });

  it('waits out a storage that cannot answer now, then sends once', async () => {
    const url = store.put('slow.pdf', pdf, { status: [503, 500, 200] });
    const r = await g.call(
      'POST',
      '/future/orders/composed-email',
      order('c@example.com', [{ filename: 'slow.pdf', sasUrl: url }]),
      composed(),
    );
    const final = await finalOf((r.body.notification as { shipmentId: string }).shipmentId);
    expect(final.status).toBe('Email_Succeeded');
    expect(sink.accepted.get(final.notificationId!)).toBe(1);
    expect(attachmentsOf(sink.bodies.get(final.notificationId!)!)[0]!.content).toEqual(pdf);
    expect(store.readsOf('slow.pdf')).toBe(3);
  });

  it('tries for ATTACHMENT_RETRY_FOR_MS from the storage’s first failure, also for an email sent long after its requested time', async () => {
    // (a direct producer's order of a minute ago, as after a backlog or an outage: the window is 6 s)
    const files = [
      {
        filename: 'late.pdf',
        mimeType: 'application/pdf',
        sasUrl: store.put('late.pdf', pdf, { status: [503, 503, 200] }),
      },
    ];
    const o = sampleOrder(3, { type: 'Composed', attachments: files, requestedSendTime: Date.now() - 60_000 });
    await publish(g.kafka, g.codec, g.prefix, 'orders', [{ key: o.orderId, value: o }]);
    const final = await finalOf(o.orderId);
    expect(final.status).toBe('Email_Succeeded');
    expect(sink.accepted.get(final.notificationId!)).toBe(1);
    expect(store.readsOf('late.pdf')).toBe(3);
  });

  it('sends a Composed order a direct producer published, and dead-letters one that breaks the rules', async () => {
    const files = [{ filename: 'direkte.pdf', mimeType: 'application/pdf', sasUrl: store.put('direkte.pdf', pdf) }];
    const o = sampleOrder(1, { type: 'Composed', attachments: files, requestedSendTime: Date.now() });
    const bad = sampleOrder(2, { type: 'Composed', attachments: [], requestedSendTime: Date.now() });
    await publish(g.kafka, g.codec, g.prefix, 'orders', [
      { key: o.orderId, value: o },
      { key: bad.orderId, value: bad },
    ]);
    const final = await finalOf(o.orderId);
    expect(final.status).toBe('Email_Succeeded');
    expect(attachmentsOf(sink.bodies.get(final.notificationId!)!)[0]).toMatchObject({ filename: 'direkte.pdf' });
    await eventually(
      async () => statuses.some((s) => s.orderId === bad.orderId && s.status === 'Order_Rejected'),
      'the broken Composed order rejected',
    );
    expect(statuses.find((s) => s.orderId === bad.orderId && s.status === 'Order_Rejected')!.description).toContain(
      'a Composed order must carry at least one attachment',
    );
  });
});
