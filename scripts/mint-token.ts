/**
 * Mints a bearer token for the local gateway, signed with the local stack's key
 * (AUTH_PRIVATE_KEY_FILE, written by `./dev up`). For local runs and tests only.
 *
 *   TOKEN=$(node --import tsx scripts/mint-token.ts --org ttd)
 *   curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:19088/notifications/api/v1/orders?sendersReference=x
 *
 * With --access-token, a Platform Access Token issued by the org instead (the local stack
 * trusts the same key for the issuers ttd, digdir and platform):
 *
 *   curl -H "PlatformAccessToken: $(node --import tsx scripts/mint-token.ts --access-token --org ttd)" …
 *
 * Reads the stack's environment file when AUTH_PRIVATE_KEY_FILE is not set.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mintAccessToken, mintToken } from '../gateway/local-tokens.ts';

const { values } = parseArgs({
  options: {
    org: { type: 'string', default: 'ttd' },
    scope: { type: 'string', default: 'altinn:serviceowner/notifications.create' },
    ttl: { type: 'string', default: '3600' },
    key: { type: 'string' },
    'access-token': { type: 'boolean', default: false },
  },
});

let keyFile = values.key ?? process.env.AUTH_PRIVATE_KEY_FILE;
if (!keyFile) {
  const env = readFileSync(new URL('../.local/stack/env', import.meta.url), 'utf8');
  keyFile = /AUTH_PRIVATE_KEY_FILE=(\S+)/.exec(env)?.[1];
}
if (!keyFile) throw new Error('no AUTH_PRIVATE_KEY_FILE: start the stack with ./dev up first');
const pem = readFileSync(keyFile, 'utf8');
const token = values['access-token']
  ? await mintAccessToken(pem, values.org, Number(values.ttl))
  : await mintToken(pem, { org: values.org, scope: values.scope, ttlSeconds: Number(values.ttl) });
process.stdout.write(`${token}\n`);
