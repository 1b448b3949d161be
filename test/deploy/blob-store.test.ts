import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { get, request } from 'node:https';
import { promisify } from 'node:util';
import {
  BlobSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBlobStore } from '../support/blob-store.ts';
import { stackEnv } from '../support/stack.ts';

/** A GET over HTTPS trusting `ca` (or only the system's authorities): status, headers, body. */
function fetchTls(url: string, ca?: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    get(url, { ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    }).on('error', reject);
  });
}
const code = (body: string) => /<Code>(\w+)<\/Code>/.exec(body)?.[1];

/** A PUT over HTTPS trusting `ca`: status, headers, body. */
function putTls(url: string, ca: string, body: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request(url, { method: 'PUT', ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Azure's SDK in a process of its own that trusts the store's CA as a user's would
 * (`NODE_EXTRA_CA_CERTS`): uploads `body` to the SAS URL `UPLOAD`, and tries `REFUSED` too.
 */
const SDK_UPLOAD = `
import { BlockBlobClient } from '@azure/storage-blob';
const body = process.env.BODY;
const up = await new BlockBlobClient(process.env.UPLOAD).upload(body, Buffer.byteLength(body), {
  blobHTTPHeaders: { blobContentType: 'application/pdf' },
});
let refused = null;
try {
  await new BlockBlobClient(process.env.REFUSED).upload(body, Buffer.byteLength(body));
} catch (e) {
  refused = { status: e.statusCode, code: e.code };
}
console.log(JSON.stringify({ etag: up.etag, md5: Buffer.from(up.contentMD5).toString('base64'), refused }));
`;

describe('the blob storage simulator', () => {
  let store: Awaited<ReturnType<typeof startBlobStore>>;
  let ca: string;
  beforeAll(async () => {
    store = await startBlobStore();
    ca = readFileSync(store.caFile, 'utf8');
  });
  afterAll(() => store?.close());

  /** a SAS made by Azure's own SDK for the simulator's account and key */
  const sdkUrl = (
    blob: string,
    o: { permissions?: string; expiresOn?: Date; startsOn?: Date; contentType?: string },
  ) => {
    const credential = new StorageSharedKeyCredential(store.account, store.key.toString('base64'));
    const sas = generateBlobSASQueryParameters(
      {
        containerName: 'files',
        blobName: blob,
        permissions: BlobSASPermissions.parse(o.permissions ?? 'r'),
        expiresOn: o.expiresOn ?? new Date(Date.now() + 3600_000),
        startsOn: o.startsOn,
        protocol: SASProtocol.Https,
        contentType: o.contentType,
        contentDisposition: o.contentType ? 'attachment; filename="vedtak.pdf"' : undefined,
      },
      credential,
    ).toString();
    return `${store.origin}/${store.account}/files/${encodeURIComponent(blob)}?${sas}`;
  };

  it("accepts a SAS made by Azure's SDK for its account, as Azure checks one", async () => {
    store.put('vedtak 2026.pdf', '%PDF-1.7 vedtak', { contentType: 'application/octet-stream' });
    const res = await fetchTls(sdkUrl('vedtak 2026.pdf', { contentType: 'application/pdf' }), ca);
    expect(res.status).toBe(200);
    expect(res.body).toBe('%PDF-1.7 vedtak');
    // the SAS's response headers win over the blob's own
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.headers['content-disposition']).toBe('attachment; filename="vedtak.pdf"');
    expect(res.headers['x-ms-blob-type']).toBe('BlockBlob');
    expect(res.headers.etag).toMatch(/^"0x[0-9A-F]{16}"$/);
    // one byte range, as the SDKs read a large blob
    const part = await fetchTls(sdkUrl('vedtak 2026.pdf', {}), ca, { 'x-ms-range': 'bytes=9-14' });
    expect([part.status, part.body, part.headers['content-range']]).toEqual([206, 'vedtak', 'bytes 9-14/15']);
  });

  it("takes an upload from Azure's SDK with a SAS that may write, and refuses one that may not", async () => {
    const body = '%PDF-1.7 lastet opp';
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SDK_UPLOAD], {
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: store.caFile,
        BODY: body,
        UPLOAD: sdkUrl('opplastet.pdf', { permissions: 'cw' }),
        REFUSED: sdkUrl('annen.pdf', { permissions: 'r' }),
      },
    });
    const out = JSON.parse(stdout) as { etag: string; md5: string; refused: { status: number; code: string } };
    expect(out.refused).toEqual({ status: 403, code: 'AuthorizationPermissionMismatch' });
    expect(out.md5).toBe(createHash('md5').update(body).digest('base64'));
    // read back as any blob: the bytes, the type it was given, the ETag the upload answered
    const res = await fetchTls(sdkUrl('opplastet.pdf', {}), ca);
    expect([res.status, res.body, res.headers['content-type'], res.headers.etag]).toEqual([
      200,
      body,
      'application/pdf',
      out.etag,
    ]);
    expect((await fetchTls(sdkUrl('annen.pdf', {}), ca)).status).toBe(404);
  });

  it('refuses a write Azure refuses: create-only over a blob, no blob type, a wrong MD5', async () => {
    const headers = { 'x-ms-blob-type': 'BlockBlob', 'content-type': 'text/plain' };
    expect((await putTls(sdkUrl('ny.txt', { permissions: 'c' }), ca, 'en', headers)).status).toBe(201);
    const over = await putTls(sdkUrl('ny.txt', { permissions: 'c' }), ca, 'to', headers);
    expect([over.status, code(over.body)]).toEqual([403, 'AuthorizationPermissionMismatch']);
    const typeless = await putTls(sdkUrl('ny.txt', { permissions: 'w' }), ca, 'to', { 'content-type': 'text/plain' });
    expect([typeless.status, code(typeless.body)]).toEqual([400, 'MissingRequiredHeader']);
    const md5 = await putTls(sdkUrl('ny.txt', { permissions: 'w' }), ca, 'to', {
      ...headers,
      'content-md5': createHash('md5').update('tre').digest('base64'),
    });
    expect([md5.status, code(md5.body)]).toEqual([400, 'Md5Mismatch']);
    // none of them changed it; a SAS that may write replaces it
    expect((await fetchTls(sdkUrl('ny.txt', {}), ca)).body).toBe('en');
    expect((await putTls(sdkUrl('ny.txt', { permissions: 'w' }), ca, 'to', headers)).status).toBe(201);
    expect((await fetchTls(sdkUrl('ny.txt', {}), ca)).body).toBe('to');
  });

  it("refuses what Azure refuses, with Azure's error codes", async () => {
    store.put('a.pdf', 'a');
    const good = sdkUrl('a.pdf', {});
    expect((await fetchTls(good, ca)).status).toBe(200);
    // any signed field changed: the signature no longer matches
    const later = new URL(good);
    later.searchParams.set('se', new Date(Date.now() + 7 * 24 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'));
    const tampered = await fetchTls(later.toString(), ca);
    expect([tampered.status, code(tampered.body)]).toEqual([403, 'AuthenticationFailed']);
    // another account's key
    const foreign = new URL(good);
    foreign.searchParams.set('sig', Buffer.alloc(32, 7).toString('base64'));
    expect(code((await fetchTls(foreign.toString(), ca)).body)).toBe('AuthenticationFailed');
    // the blob's name is signed too
    store.put('b.pdf', 'b');
    const other = good.replace('/files/a.pdf', '/files/b.pdf');
    expect(code((await fetchTls(other, ca)).body)).toBe('AuthenticationFailed');
    const expired = await fetchTls(sdkUrl('a.pdf', { expiresOn: new Date(Date.now() - 60_000) }), ca);
    expect([expired.status, code(expired.body)]).toEqual([403, 'AuthenticationFailed']);
    const early = await fetchTls(sdkUrl('a.pdf', { startsOn: new Date(Date.now() + 600_000) }), ca);
    expect([early.status, code(early.body)]).toEqual([403, 'AuthenticationFailed']);
    const writeOnly = await fetchTls(sdkUrl('a.pdf', { permissions: 'w' }), ca);
    expect([writeOnly.status, code(writeOnly.body)]).toEqual([403, 'AuthorizationPermissionMismatch']);
    const missing = await fetchTls(sdkUrl('nowhere.pdf', {}), ca);
    expect([missing.status, code(missing.body)]).toEqual([404, 'BlobNotFound']);
    // its own certificate authority: a client that trusts only the system's refuses it
    await expect(fetchTls(good)).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });
});

describe("the local stack's blob store", () => {
  const env = stackEnv();
  const control = (path: string, init?: RequestInit) => fetch(`${env.BLOB_STORE_CONTROL_URL}${path}`, init);
  afterAll(async () => {
    await control('/admin/outage', { method: 'DELETE' });
  });

  it('stores a blob through its control API and serves it over HTTPS to a holder of its SAS URL', async () => {
    const ca = readFileSync(env.BLOB_STORE_CA_FILE!, 'utf8');
    const name = `peers-${Date.now()}.txt`;
    const put = await control(`/admin/blobs/files/${name}?status=503,200`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: 'hei fra lageret',
    });
    expect(put.status).toBe(201);
    const { url } = (await put.json()) as { url: string };
    expect(url.startsWith(`${env.BLOB_STORE_URL}/files/${name}?`)).toBe(true);
    expect(new URL(url).searchParams.get('sp')).toBe('r');
    // the fault asked for first, then the blob
    expect((await fetchTls(url, ca)).status).toBe(503);
    const res = await fetchTls(url, ca);
    expect([res.status, res.body, res.headers['content-type']]).toEqual([200, 'hei fra lageret', 'text/plain']);
    // an outage of one read, then served again
    await control('/admin/outage', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 500, count: 1 }),
    });
    expect((await fetchTls(url, ca)).status).toBe(500);
    expect((await fetchTls(url, ca)).status).toBe(200);
    const reads = (await (await control(`/admin/reads?container=files&blob=${name}`)).json()) as { status: number }[];
    expect(reads.map((r) => r.status)).toEqual([503, 200, 500, 200]);
    // a SAS to upload with, from the control API, and the upload read back with a read SAS
    const sas = async (blob: string, query: string) =>
      ((await (await control(`/admin/sas/files/${blob}${query}`)).json()) as { url: string }).url;
    const upload = await sas(`up-${name}`, '?permissions=cw&expiresInS=60');
    expect(new URL(upload).searchParams.get('sp')).toBe('cw');
    const put2 = await putTls(upload, ca, 'lastet opp', {
      'x-ms-blob-type': 'BlockBlob',
      'content-type': 'text/plain',
    });
    expect(put2.status).toBe(201);
    expect((await fetchTls(await sas(`up-${name}`, ''), ca)).body).toBe('lastet opp');
    expect((await control(`/admin/sas/files/x.txt?permissions=z`)).status).toBe(400);
    // a bad query is refused, nothing stored
    const bad = await control(`/admin/blobs/files/x.txt?status=abc`, { method: 'PUT', body: 'x' });
    expect(bad.status).toBe(400);
  });
});
