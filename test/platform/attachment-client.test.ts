import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttachmentFetcher, type FetchResult } from '../../platform/http/attachment-client.ts';
import { EgressGuard } from '../../platform/http/egress.ts';
import { Mailer } from '../../platform/smtp/mailer.ts';
import { startBlobStore } from '../support/blob-store.ts';
import { attachmentsOf, startSmtpSink } from '../support/smtp-sink.ts';

const LOOPBACK = new EgressGuard({ allowLoopback: true, allowPrivate: false });
const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(3000, 0xa7), Buffer.from('\n%%EOF')]);

/** Composed emails' files: fetched over real HTTPS at send time, attached by the real mailer. */
describe('the attachment fetcher', () => {
  let store: Awaited<ReturnType<typeof startBlobStore>>;
  let fetcher: AttachmentFetcher;
  beforeAll(async () => {
    store = await startBlobStore();
    fetcher = new AttachmentFetcher({
      guard: LOOPBACK,
      hosts: ['127.0.0.1'],
      timeoutMs: 2_000,
      maxBytes: 8 * 1024,
      ca: readFileSync(store.caFile, 'utf8'),
    });
  });
  afterAll(() => store?.close());
  const file = (name: string, sasUrl: string, mimeType = 'application/pdf') => ({ filename: name, mimeType, sasUrl });
  const noSignature = (r: FetchResult) => expect(JSON.stringify(r)).not.toMatch(/sig=|c2lnbmF0dXJl/);

  it('fetches every file of an email, as its bytes, with the allow-list’s MIME type', async () => {
    const r = await fetcher.fetchAll([
      file('a.pdf', store.put('a.pdf', pdf)),
      file('b.txt', store.put('b.txt', 'hei'), 'TEXT/PLAIN'),
    ]);
    expect(r).toEqual({
      kind: 'ok',
      files: [
        { filename: 'a.pdf', contentType: 'application/pdf', content: pdf },
        { filename: 'b.txt', contentType: 'text/plain', content: Buffer.from('hei') },
      ],
    });
  });

  it('takes a refusal by the storage (4xx) or a redirect as an invalid SAS URL, and 5xx, 408, 429 as not now', async () => {
    for (const status of [403, 404, 302]) {
      const r = await fetcher.fetchAll([file(`s${status}.pdf`, store.put(`s${status}.pdf`, pdf, { status }))]);
      expect(r, String(status)).toEqual({
        kind: 'invalid',
        reason: `the storage answered ${status} for 's${status}.pdf' (127.0.0.1)`,
      });
      noSignature(r);
    }
    for (const status of [500, 503, 408, 429]) {
      const r = await fetcher.fetchAll([file(`t${status}.pdf`, store.put(`t${status}.pdf`, pdf, { status }))]);
      expect(r.kind, String(status)).toBe('transient');
    }
    // one refused file decides for the email, before one that only failed for now
    const mixed = await fetcher.fetchAll([
      file('later.pdf', store.put('later.pdf', pdf, { status: 503 })),
      file('gone.pdf', store.put('gone.pdf', pdf, { status: 403 })),
    ]);
    expect(mixed.kind).toBe('invalid');
  });

  it('stops reading when the files together pass the limit', async () => {
    const big = Buffer.alloc(5 * 1024, 1);
    const r = await fetcher.fetchAll([file('x.pdf', store.put('x.pdf', big)), file('y.pdf', store.put('y.pdf', big))]);
    expect(r.kind).toBe('too-large');
    noSignature(r);
    expect((await fetcher.fetchAll([file('x.pdf', store.put('x.pdf', big))])).kind).toBe('ok');
  });

  it('fetches nothing from a host or address it may not, or a storage whose certificate it does not trust', async () => {
    const before = store.reads().length;
    const url = store.put('c.pdf', pdf);
    const strict = new AttachmentFetcher({
      guard: new EgressGuard({ allowLoopback: false, allowPrivate: false }),
      hosts: ['127.0.0.1'],
      timeoutMs: 2_000,
      maxBytes: 8192,
      ca: readFileSync(store.caFile, 'utf8'),
    });
    expect(await strict.fetchAll([file('c.pdf', url)])).toEqual({
      kind: 'invalid',
      reason: "the address of 'c.pdf' is refused by the egress policy",
    });
    const otherHost = new AttachmentFetcher({
      guard: LOOPBACK,
      hosts: ['blob.core.windows.net'],
      timeoutMs: 2_000,
      maxBytes: 8192,
    });
    expect((await otherHost.fetchAll([file('c.pdf', url)])).kind).toBe('invalid');
    expect((await fetcher.fetchAll([file('c.pdf', url, 'application/x-msdownload')])).kind).toBe('invalid');
    expect((await fetcher.fetchAll([file('c.pdf', url.replace('https:', 'http:'))])).kind).toBe('invalid');
    expect(store.reads().length).toBe(before);
    // the system's authorities only: the test store's certificate does not verify
    const untrusting = new AttachmentFetcher({
      guard: LOOPBACK,
      hosts: ['127.0.0.1'],
      timeoutMs: 2_000,
      maxBytes: 8192,
    });
    expect((await untrusting.fetchAll([file('c.pdf', url)])).kind).toBe('transient');
  });
});

describe('the mailer with files', () => {
  let sink: Awaited<ReturnType<typeof startSmtpSink>>;
  let mailer: Mailer;
  beforeAll(async () => {
    sink = await startSmtpSink();
    mailer = new Mailer({
      host: '127.0.0.1',
      port: sink.port,
      secure: false,
      poolSize: 1,
      rejectUnauthorized: false,
      timeoutMs: 5_000,
    });
  });
  afterAll(async () => {
    mailer?.close();
    await sink?.close();
  });

  it('attaches each file as it is, under its own name and type', async () => {
    const verdict = await mailer.send({
      from: 'noreply@altinn.cloud',
      to: 'someone@example.com',
      subject: 'Vedtak',
      body: 'Se vedlegg.',
      html: false,
      headers: { 'X-Notification-Id': 'files-1' },
      attachments: [
        { filename: 'Vedtak "2026".pdf', contentType: 'application/pdf', content: pdf },
        { filename: 'skjema æøå.txt', contentType: 'text/plain', content: Buffer.from('linje 1\r\nlinje 2') },
      ],
    });
    expect(verdict.kind).toBe('accepted');
    const raw = sink.bodies.get('files-1')!;
    const files = attachmentsOf(raw);
    expect(files.map((f) => [f.contentType, f.content])).toEqual([
      ['application/pdf', pdf],
      ['text/plain', Buffer.from('linje 1\r\nlinje 2')],
    ]);
    expect(files.map((f) => f.filename)).toEqual(['Vedtak "2026".pdf', 'skjema æøå.txt']);
  });

  it('tells a message too large for the server (552) from other refusals', async () => {
    const verdict = await mailer.send({
      from: 'noreply@altinn.cloud',
      to: 'too-large-552@example.com',
      subject: 'Vedtak',
      body: 'Se vedlegg.',
      html: false,
      headers: {},
      attachments: [{ filename: 'a.pdf', contentType: 'application/pdf', content: pdf }],
    });
    expect(verdict).toMatchObject({ kind: 'rejected', code: 552, address: false, tooLarge: true });
    const other = await mailer.send({
      from: 'noreply@altinn.cloud',
      to: 'policy-554@example.com',
      subject: 'x',
      body: 'x',
      html: false,
      headers: {},
    });
    expect(other).toMatchObject({ kind: 'rejected', code: 554, tooLarge: false });
  });
});
