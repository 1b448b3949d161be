import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A blob storage for composed emails' tests: a real HTTPS server on 127.0.0.1 with a
 * certificate of a CA made for it (openssl), serving the blobs a test puts, each with the status
 * it should answer. `caFile` is what send-email trusts (ATTACHMENT_CA_FILE); its URLs name the
 * host `127.0.0.1` (ATTACHMENT_HOSTS=127.0.0.1, with EGRESS_ALLOW_LOOPBACK).
 */
export async function startBlobStore() {
  const dir = mkdtempSync(join(tmpdir(), 'blob-store-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=test blob store CA',
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  const blobs = new Map<string, { statuses: number[]; body: Buffer }>();
  /** every request's path and query, as it came */
  const requests: string[] = [];
  const server = createServer(
    { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) },
    (req, res) => {
      requests.push(req.url ?? '');
      const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
      const blob = blobs.get(path);
      if (!blob) return res.writeHead(404).end('BlobNotFound');
      // each request takes the next status; the last one stays
      const status = blob.statuses.length > 1 ? blob.statuses.shift()! : blob.statuses[0]!;
      if (status === 302) return res.writeHead(302, { location: 'https://127.0.0.1:1/elsewhere' }).end();
      res.writeHead(status, { 'content-type': 'application/octet-stream' }).end(status === 200 ? blob.body : 'refused');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    caFile: join(dir, 'ca.pem'),
    requests,
    /**
     * Puts a blob at `/files/<name>` answering `status` (200 by default; a list: one per request,
     * the last one staying; 302 redirects elsewhere); returns a read SAS URL for it, valid until
     * `expiresAt` (default a day from now).
     */
    put(
      name: string,
      body: Buffer | string,
      o: { status?: number | number[]; expiresAt?: Date; permissions?: string } = {},
    ) {
      const path = `/files/${encodeURIComponent(name)}`;
      blobs.set(path, { statuses: [o.status ?? 200].flat(), body: Buffer.from(body) });
      const se = (o.expiresAt ?? new Date(Date.now() + 24 * 3600_000)).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const q = new URLSearchParams({ sv: '2024-11-04', se, sp: o.permissions ?? 'r', sr: 'b', sig: 'c2lnbmF0dXJl' });
      return `https://127.0.0.1:${port}${path}?${q.toString()}`;
    },
    async close() {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
