/**
 * Blob storage simulator: the storage a composed email's files are fetched from, as Azure Blob
 * Storage serves them to a holder of a service SAS. A blob is read with
 * `GET /<account>/<container>/<blob>?sv=…&sp=r&se=…&sr=b&sig=…` (path-style, as Azurite
 * addresses an account), and the signature is checked as Azure checks it: an HMAC-SHA256 with
 * the account key over the string-to-sign of service SAS version 2020-12-06 and later, so a SAS
 * made by an Azure SDK for this account and key is accepted too. Answers are Azure's: 403
 * `AuthenticationFailed` (signature, expiry or start), 403 `AuthorizationPermissionMismatch`
 * (no `r`), 404 `BlobNotFound`, 200 with the bytes, `Content-Type` and `x-ms-blob-type`. A blob
 * can be uploaded as to Azure, with Put Blob and a SAS that may write (see `putBlob`).
 *
 * Tests and local users put blobs through `put` (in process) or the control API (`control`),
 * which answers the blob's read SAS URL, and make faults: a blob may answer a list of statuses
 * first (each request the next; the last one stays, 200 being the blob), and an outage answers
 * every read with a status until cleared or used up. Blobs live in memory.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { z } from 'zod';

/** Azure's default (Azurite's) account name */
export const DEFAULT_ACCOUNT = 'devstoreaccount1';
const SAS_VERSION = '2024-11-04';
/** the largest Put Blob taken (Azure takes up to 5,000 MiB in one request) */
const MAX_PUT_BYTES = 64 * 1024 * 1024;
/** the SAS parameters that set a response header */
const RESPONSE_HEADERS = [
  ['rscc', 'cache-control'],
  ['rscd', 'content-disposition'],
  ['rsce', 'content-encoding'],
  ['rscl', 'content-language'],
] as const;

interface Blob {
  body: Buffer;
  contentType: string;
  /** what the next reads answer; the last one stays; 200 serves the blob */
  answers: number[];
  modified: Date;
  etag: string;
}

/** One read, as the storage saw it: path and query, and its answer. */
export interface BlobRead {
  path: string;
  query: string;
  status: number;
  at: number;
}

export interface BlobStoreOptions {
  /** what a SAS URL starts with, up to the account: `https://127.0.0.1:PORT` */
  origin: string;
  /** the account key (Azure's are 64 random bytes, base64) */
  key: Buffer;
  account?: string;
}

export interface PutOptions {
  contentType?: string;
  /** statuses the first reads answer (the last one stays): 503, or [503, 500, 200] */
  status?: number | number[];
  /** when the SAS stops being valid (default a day from now) */
  expiresAt?: Date;
  /** the SAS's permissions (default `r`) */
  permissions?: string;
}

/** ISO 8601 to the second, as SAS times are written */
const sasTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The service SAS string-to-sign, version 2020-12-06 and later: permissions, start, expiry,
 * canonicalized resource, identifier, IP, protocol, version, resource, snapshot time, encryption
 * scope and the five response headers, joined by newlines.
 */
function stringToSign(q: URLSearchParams, canonical: string): string {
  const v = (name: string) => q.get(name) ?? '';
  return [
    v('sp'),
    v('st'),
    v('se'),
    canonical,
    v('si'),
    v('sip'),
    v('spr'),
    v('sv'),
    v('sr'),
    '', // snapshot time: snapshots are not served
    v('ses'),
    v('rscc'),
    v('rscd'),
    v('rsce'),
    v('rscl'),
    v('rsct'),
  ].join('\n');
}

const sign = (key: Buffer, text: string) => createHmac('sha256', key).update(text, 'utf8').digest('base64');

function azureError(res: ServerResponse, status: number, code: string, message: string) {
  res
    .writeHead(status, { 'content-type': 'application/xml', 'x-ms-error-code': code })
    .end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}

export function createBlobStore(o: BlobStoreOptions) {
  const account = o.account ?? DEFAULT_ACCOUNT;
  const blobs = new Map<string, Blob>();
  const reads: BlobRead[] = [];
  let outage: { status: number; remaining: number } | null = null;

  /** `/<account>/<container>/<blob>` (each segment as it appears in a URL) → container and blob names */
  function names(pathname: string): { container: string; blob: string } | null {
    const parts = pathname.split('/');
    if (parts.length < 4 || parts[1] !== account) return null;
    try {
      const container = decodeURIComponent(parts[2]!);
      const blob = decodeURIComponent(parts.slice(3).join('/'));
      return container && blob ? { container, blob } : null;
    } catch {
      return null;
    }
  }
  const canonical = (container: string, blob: string) => `/blob/${account}/${container}/${blob}`;
  const blobPath = (container: string, blob: string) =>
    `/${account}/${encodeURIComponent(container)}/${blob.split('/').map(encodeURIComponent).join('/')}`;

  /** A read SAS URL for a blob, signed with the account key. */
  function sasUrl(container: string, blob: string, p: { expiresAt?: Date; permissions?: string } = {}): string {
    const q = new URLSearchParams({
      sv: SAS_VERSION,
      se: sasTime(p.expiresAt ?? new Date(Date.now() + 24 * 3600_000)),
      sr: 'b',
      sp: p.permissions ?? 'r',
      spr: 'https',
    });
    q.set('sig', sign(o.key, stringToSign(q, canonical(container, blob))));
    return `${o.origin}${blobPath(container, blob)}?${q.toString()}`;
  }

  /** Stores a blob under its canonical resource name (replacing one of the same name). */
  function store(resource: string, body: Buffer | string, contentType: string, answers: number[] = [200]): Blob {
    const blob: Blob = {
      body: Buffer.from(body),
      contentType: contentType || 'application/octet-stream',
      answers,
      modified: new Date(),
      etag: `"0x${createHash('sha256').update(body).update(String(Date.now())).digest('hex').slice(0, 16).toUpperCase()}"`,
    };
    blobs.set(resource, blob);
    return blob;
  }

  /** Stores a blob (replacing one of the same name) and answers a read SAS URL for it. */
  function put(container: string, blob: string, body: Buffer | string, p: PutOptions = {}): string {
    store(canonical(container, blob), body, p.contentType ?? '', [p.status ?? 200].flat());
    return sasUrl(container, blob, p);
  }

  /**
   * Why a SAS does not authorise the request on the blob, or null when it does: its signature,
   * times and protocol, and one of the permissions `anyOf` (`r` to read; `w`, or `c` for a blob
   * that does not exist yet, to write).
   */
  function refusal(q: URLSearchParams, resource: string, anyOf: string): [string, string] | null {
    const sig = q.get('sig');
    if (!sig || !q.get('sv') || !q.get('se') || !q.get('sp') || q.get('sr') !== 'b')
      return ['AuthenticationFailed', 'The SAS lacks one of sv, se, sp, sr=b or sig.'];
    const expected = Buffer.from(sign(o.key, stringToSign(q, resource)));
    const given = Buffer.from(sig);
    if (expected.length !== given.length || !timingSafeEqual(expected, given))
      return ['AuthenticationFailed', 'Signature did not match.'];
    const now = Date.now();
    const se = Date.parse(q.get('se')!);
    if (!(se > now)) return ['AuthenticationFailed', `Signed expiry time [${q.get('se')}] has passed.`];
    const st = q.get('st');
    if (st && !(Date.parse(st) <= now)) return ['AuthenticationFailed', `Signed start time [${st}] is in the future.`];
    if (q.get('spr') && !q.get('spr')!.split(',').includes('https'))
      return ['AuthenticationFailed', 'The SAS does not allow HTTPS.'];
    if (![...anyOf].some((p) => q.get('sp')!.includes(p)))
      return [
        'AuthorizationPermissionMismatch',
        'This request is not authorized to perform this operation using this permission.',
      ];
    return null;
  }

  /**
   * The storage's own handler (for an HTTPS server): GET and HEAD of blobs, and Put Blob (a
   * block blob in one request, as the SDKs upload one up to 256 MiB; here up to 64 MiB).
   */
  function storage(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://storage.invalid');
    const read: BlobRead = { path: url.pathname, query: url.search, status: 0, at: Date.now() };
    reads.push(read);
    res.on('finish', () => (read.status = res.statusCode));
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'PUT')
      return azureError(res, 405, 'UnsupportedHttpVerb', 'The resource does not support the specified HTTP verb.');
    if (outage) {
      const status = outage.status;
      if (outage.remaining > 0 && --outage.remaining === 0) outage = null;
      return azureError(res, status, 'ServerBusy', 'The server is currently unable to receive requests.');
    }
    const n = names(url.pathname);
    if (!n)
      return azureError(res, 400, 'InvalidUri', 'The requested URI does not represent any resource on the server.');
    const resource = canonical(n.container, n.blob);
    const blob = blobs.get(resource);
    const writing = req.method === 'PUT';
    const refused = refusal(url.searchParams, resource, writing ? (blob ? 'w' : 'wc') : 'r');
    if (refused) return azureError(res, 403, refused[0], refused[1]);
    if (writing) return void putBlob(req, res, resource);
    if (!blob) return azureError(res, 404, 'BlobNotFound', 'The specified blob does not exist.');
    const status = blob.answers.length > 1 ? blob.answers.shift()! : blob.answers[0]!;
    if (status === 302) return void res.writeHead(302, { location: `${o.origin}/elsewhere` }).end();
    if (status !== 200) return azureError(res, status, 'InjectedFault', 'A fault the test asked for.');
    // a SAS may set the response's headers (rsct, rscd, …), as Azure lets it
    const q = url.searchParams;
    const headers: Record<string, string | number> = {
      'content-type': q.get('rsct') || blob.contentType,
      'last-modified': blob.modified.toUTCString(),
      etag: blob.etag,
      'accept-ranges': 'bytes',
      'x-ms-blob-type': 'BlockBlob',
      'x-ms-version': SAS_VERSION,
    };
    for (const [param, header] of RESPONSE_HEADERS) if (q.get(param)) headers[header] = q.get(param)!;
    // one byte range (Range or x-ms-range), as the SDKs download large blobs
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers['x-ms-range'] ?? req.headers.range ?? ''));
    let body = blob.body;
    let code = 200;
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(range[2] ? Number(range[2]) : blob.body.length - 1, blob.body.length - 1);
      if (start >= blob.body.length || end < start)
        return azureError(
          res,
          416,
          'InvalidRange',
          'The range specified is invalid for the current size of the resource.',
        );
      body = blob.body.subarray(start, end + 1);
      headers['content-range'] = `bytes ${start}-${end}/${blob.body.length}`;
      code = 206;
    }
    headers['content-length'] = body.length;
    res.writeHead(code, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /**
   * Put Blob, authorised: a block blob of the request's bytes (`x-ms-blob-type: BlockBlob`
   * required), its content type `x-ms-blob-content-type` or the request's `Content-Type`, checked
   * against a `Content-MD5` when one is sent; 201 with the blob's ETag and MD5, as Azure answers.
   */
  async function putBlob(req: IncomingMessage, res: ServerResponse, resource: string): Promise<void> {
    const type = req.headers['x-ms-blob-type'];
    if (type === undefined)
      return azureError(
        res,
        400,
        'MissingRequiredHeader',
        'An HTTP header that is mandatory for this request is not specified.',
      );
    if (type !== 'BlockBlob')
      return azureError(
        res,
        400,
        'InvalidHeaderValue',
        'Only block blobs are served here (x-ms-blob-type: BlockBlob).',
      );
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_PUT_BYTES) {
        azureError(
          res,
          413,
          'RequestBodyTooLarge',
          'The request body is too large and exceeds the maximum permissible limit.',
        );
        return void req.destroy();
      }
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    const md5 = createHash('md5').update(body).digest('base64');
    const sent = req.headers['content-md5'];
    if (sent !== undefined && sent !== md5)
      return azureError(
        res,
        400,
        'Md5Mismatch',
        'The MD5 value specified in the request did not match with the MD5 value calculated by the server.',
      );
    const stored = store(
      resource,
      body,
      String(req.headers['x-ms-blob-content-type'] ?? req.headers['content-type'] ?? ''),
    );
    res
      .writeHead(201, {
        etag: stored.etag,
        'last-modified': stored.modified.toUTCString(),
        'content-md5': md5,
        'x-ms-request-server-encrypted': 'true',
        'x-ms-version': SAS_VERSION,
        'x-ms-request-id': randomUUID(),
        'content-length': 0,
      })
      .end();
  }

  /**
   * The control API (plain HTTP, beside the storage's port):
   *   PUT  /admin/blobs/<container>/<blob>[?status=503,200&expiresInS=N&permissions=r]  body: the bytes
   *        → 201 {"url": "<read SAS URL>"}
   *   GET  /admin/sas/<container>/<blob>[?permissions=cw&expiresInS=N]  → {"url": "<SAS URL>"} (to upload with)
   *   POST /admin/outage {"status": 503, "count": N}   (count 0: until DELETE /admin/outage)
   *   GET  /admin/reads?container=C&blob=B             → the reads of one blob (or all), with their answers
   *   GET  /health
   */
  const control = express();
  control.get('/health', (_req, res) => void res.json({ status: 'ok', blobs: blobs.size, account }));
  control.put(/^\/admin\/blobs\/([^/]+)\/(.+)$/, express.raw({ type: () => true, limit: '64mb' }), (req, res) => {
    const q = z
      .object({
        status: z
          .string()
          .regex(/^\d{3}(,\d{3})*$/)
          .transform((s) => s.split(',').map(Number))
          .optional(),
        expiresInS: z.coerce.number().int().optional(),
        permissions: z
          .string()
          .regex(/^[a-z]+$/)
          .optional(),
      })
      .safeParse(req.query);
    if (!q.success) return void res.status(400).json({ error: q.error.issues });
    const params = req.params as unknown as Record<string, string>;
    const url = put(params[0]!, params[1]!, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), {
      contentType: req.get('content-type') ?? undefined,
      status: q.data.status,
      permissions: q.data.permissions,
      expiresAt: q.data.expiresInS === undefined ? undefined : new Date(Date.now() + q.data.expiresInS * 1000),
    });
    res.status(201).json({ url });
  });
  control.get(/^\/admin\/sas\/([^/]+)\/(.+)$/, (req, res) => {
    const q = z
      .object({
        permissions: z
          .string()
          .regex(/^[racwd]+$/)
          .default('r'),
        expiresInS: z.coerce.number().int().min(1).optional(),
      })
      .safeParse(req.query);
    if (!q.success) return void res.status(400).json({ error: q.error.issues });
    const params = req.params as unknown as Record<string, string>;
    res.json({
      url: sasUrl(params[0]!, params[1]!, {
        permissions: q.data.permissions,
        ...(q.data.expiresInS === undefined ? {} : { expiresAt: new Date(Date.now() + q.data.expiresInS * 1000) }),
      }),
    });
  });
  control.post('/admin/outage', express.json(), (req, res) => {
    const body = z
      .object({ status: z.number().int().min(400).max(599).default(503), count: z.number().int().min(0).default(0) })
      .safeParse(req.body ?? {});
    if (!body.success) return void res.status(400).json({ error: body.error.issues });
    outage = { status: body.data.status, remaining: body.data.count };
    res.json(outage);
  });
  control.delete('/admin/outage', (_req, res) => {
    outage = null;
    res.status(204).end();
  });
  control.get('/admin/reads', (req, res) => {
    const { container, blob } = req.query as Record<string, string | undefined>;
    const path = container && blob ? blobPath(container, blob) : null;
    res.json(path ? reads.filter((r) => r.path === path) : reads);
  });

  return {
    account,
    put,
    sasUrl,
    storage,
    control,
    /** the reads of one blob, or all */
    reads: (container?: string, blob?: string) =>
      container && blob ? reads.filter((r) => r.path === blobPath(container, blob)) : [...reads],
  };
}
