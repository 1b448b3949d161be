/**
 * The local stack's blob storage (see app.ts): HTTPS on 127.0.0.1 with a certificate of a CA
 * of its own, and a control API in plain HTTP.
 *
 *   tsx deploy/local/blob-store/main.ts --port PORT --control-port PORT --dir DIR
 *
 * DIR keeps the CA, the certificate and the account key, so SAS URLs and the trust stay valid
 * across restarts (the blobs do not: they live in memory).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createBlobStore } from './app.ts';
import { serverCertificate } from './tls.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '19043' },
    'control-port': { type: 'string', default: '19044' },
    dir: { type: 'string', default: '.local/blob-store' },
  },
});
const dir = values.dir;
mkdirSync(dir, { recursive: true, mode: 0o700 });
const tls = serverCertificate(join(dir, 'tls'));
const keyFile = join(dir, 'account.key');
if (!existsSync(keyFile)) writeFileSync(keyFile, randomBytes(64).toString('base64'), { mode: 0o600 });
const port = Number(values.port);
const store = createBlobStore({
  origin: `https://127.0.0.1:${port}`,
  key: Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64'),
});
createServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, store.storage).listen(
  port,
  '127.0.0.1',
  () => {
    const control = Number(values['control-port']);
    store.control.listen(control, '127.0.0.1', () =>
      console.log(
        `blob store simulator: account ${store.account} on https://127.0.0.1:${port} (CA ${tls.caFile}), control on http://127.0.0.1:${control}`,
      ),
    );
  },
);
