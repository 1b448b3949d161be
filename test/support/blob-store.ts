import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBlobStore, type PutOptions } from '../../deploy/local/blob-store/app.ts';
import { serverCertificate } from '../../deploy/local/blob-store/tls.ts';

/**
 * The stack's blob storage simulator (deploy/local/blob-store) in this process, for composed
 * emails' tests: a real HTTPS server on 127.0.0.1 with a certificate of a CA made for it
 * (openssl) and an account key of its own. `caFile` is what send-email trusts
 * (ATTACHMENT_CA_FILE); its URLs name the host `127.0.0.1` (ATTACHMENT_HOSTS=127.0.0.1, with
 * EGRESS_ALLOW_LOOPBACK).
 */
export async function startBlobStore() {
  const dir = mkdtempSync(join(tmpdir(), 'blob-store-'));
  const tls = serverCertificate(dir, 2);
  const key = randomBytes(64);
  // the store is made once the port, part of its URLs, is known
  let storage: RequestListener = (_req, res) => void res.writeHead(503).end();
  const server = createServer({ key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile) }, (req, res) =>
    storage(req, res),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const local = createBlobStore({ origin, key });
  storage = local.storage;
  return {
    caFile: tls.caFile,
    account: local.account,
    key,
    origin,
    /**
     * Puts a blob in the container `files` answering `status` (200 by default; a list: one per
     * read, the last one staying; 302 redirects elsewhere); returns a read SAS URL for it, valid
     * until `expiresAt` (default a day from now).
     */
    put: (name: string, body: Buffer | string, o: PutOptions = {}) => local.put('files', name, body, o),
    /** how many times the blob `name` of `files` was read, whatever the answer */
    readsOf: (name: string) => local.reads('files', name).length,
    /** every read, with its path and query as they came */
    reads: () => local.reads(),
    async close() {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
