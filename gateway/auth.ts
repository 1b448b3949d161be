import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import {
  createLocalJWKSet,
  decodeJwt,
  createRemoteJWKSet,
  importSPKI,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { sendProblem } from './problems.ts';

/**
 * Who may order (reference §2): a bearer JWT signed by a configured key, carrying the scope
 * `altinn:serviceowner/notifications.create` and the ordering organisation in `org`; or an
 * Altinn Platform Access Token in the `PlatformAccessToken` header, signed by its issuer's key,
 * whose issuer is the organisation. Either way the organisation becomes the creator (tenant)
 * of everything the request touches; a Platform Access Token, when present, decides it.
 */
export const CREATE_SCOPE = 'altinn:serviceowner/notifications.create';

/**
 * The composed email endpoint asks for a scope of its own instead (reference §2,
 * `POLICY_COMPOSED_EMAIL_CREATE_SCOPE`), and only a bearer token can carry it: a Platform Access
 * Token does not open it.
 */
export const COMPOSED_EMAIL_SCOPE = 'altinn:serviceowner/notifications.composedemail.create';

/** The path (below the API's base, as express matches it: any case, an optional final slash) that asks for COMPOSED_EMAIL_SCOPE. */
const COMPOSED_EMAIL_PATH = /^\/future\/orders\/composed-email\/?$/i;

/**
 * The support dashboard (reference §2, `AuthorizationConstants`)
 * asks for the support scope, which opens nothing else; only a bearer token carries it, and it
 * needs no `org` claim (support staff read every creator's notifications).
 */
export const SUPPORT_SCOPE = 'altinn:notifications.support.admin';

const DASHBOARD_PATH = /^\/future\/dashboard(\/|$)/i;

/** The scope a request needs. */
export const scopeFor = (path: string): string =>
  COMPOSED_EMAIL_PATH.test(path) ? COMPOSED_EMAIL_SCOPE : DASHBOARD_PATH.test(path) ? SUPPORT_SCOPE : CREATE_SCOPE;

export interface AuthOptions {
  jwksUrl?: string | undefined;
  publicKeyFile?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  /**
   * Longest lifetime a token may have, in seconds (default 3600): its `exp` no further than this
   * from now, nor from its `iat` when it has one. Every token must carry `exp`.
   */
  maxLifetimeSeconds?: number | undefined;
}

export const DEFAULT_MAX_TOKEN_LIFETIME_S = 3600;

/**
 * A token that never expires, or lives longer than `maxSeconds`, is refused: a leaked one would
 * otherwise open the API for ever. jose checks that `exp` is not past; this bounds it above.
 */
export function lifetimeProblem(p: JWTPayload, maxSeconds: number, nowSeconds: number): string | null {
  if (typeof p.exp !== 'number') return 'the token has no exp claim';
  if (p.exp - nowSeconds > maxSeconds) return `the token expires more than ${maxSeconds} s from now`;
  if (typeof p.iat === 'number' && p.exp - p.iat > maxSeconds)
    return `the token lives longer than ${maxSeconds} s (exp - iat)`;
  return null;
}

type Key = JWTVerifyGetKey | Awaited<ReturnType<typeof importSPKI>>;
type PublicKey = Awaited<ReturnType<typeof importSPKI>>;

/**
 * Platform Access Token issuers and their keys: one SPKI PEM per issuer in `dir`, named
 * `<issuer>.pem` (as Altinn keeps one certificate per issuing org). None when `dir` is unset.
 */
export async function loadAccessTokenIssuers(dir: string | undefined): Promise<Map<string, PublicKey>> {
  const issuers = new Map<string, PublicKey>();
  if (!dir) return issuers;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.pem'))) {
    issuers.set(file.slice(0, -'.pem'.length), await importSPKI(readFileSync(join(dir, file), 'utf8'), 'RS256'));
  }
  return issuers;
}

export async function loadVerificationKey(o: AuthOptions): Promise<Key> {
  if (o.jwksUrl) return createRemoteJWKSet(new URL(o.jwksUrl));
  if (!o.publicKeyFile) throw new Error('set AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE for the gateway');
  const text = readFileSync(o.publicKeyFile, 'utf8');
  if (text.trimStart().startsWith('{')) return createLocalJWKSet(JSON.parse(text) as JSONWebKeySet);
  return importSPKI(text, 'RS256');
}

const scopesOf = (p: JWTPayload): string[] =>
  typeof p.scope === 'string'
    ? p.scope.split(' ').filter(Boolean)
    : Array.isArray(p.scope)
      ? (p.scope as string[])
      : [];

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256'];

/**
 * express middleware: 401 without a valid token, 403 without the scope or an org; sets
 * res.locals.creator. A `PlatformAccessToken` header, when sent, must verify against its
 * issuer's key (else 401) and then authorises the request on its own.
 */
export function authenticate(
  key: Key,
  o: AuthOptions,
  accessTokenIssuers: Map<string, PublicKey> = new Map(),
  cacheMs = 60_000,
) {
  const verifyOptions = {
    algorithms: ALGORITHMS,
    requiredClaims: ['exp'],
    ...(o.issuer ? { issuer: o.issuer } : {}),
    ...(o.audience ? { audience: o.audience } : {}),
  };
  const maxLifetime = o.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_S;
  const bounded = (p: JWTPayload): JWTPayload => {
    const problem = lifetimeProblem(p, maxLifetime, Math.floor(Date.now() / 1000));
    if (problem) throw new Error(problem);
    return p;
  };
  // A sender reuses one token for many requests: its verified claims are kept until it expires
  // (at most `cacheMs`), so the signature is checked once rather than per request.
  const cache = new Map<string, { payload: JWTPayload; until: number }>();
  const cached = async (token: string, verify: () => Promise<JWTPayload>): Promise<JWTPayload> => {
    const now = Date.now();
    const hit = cache.get(token);
    if (hit && hit.until > now) return hit.payload;
    const payload = bounded(await verify());
    if (cache.size >= 10_000) cache.clear();
    cache.set(token, { payload, until: Math.min(now + cacheMs, payload.exp! * 1000) });
    return payload;
  };
  const verified = (token: string) =>
    cached(token, async () =>
      typeof key === 'function'
        ? (await jwtVerify(token, key, verifyOptions)).payload
        : (await jwtVerify(token, key, verifyOptions)).payload,
    );
  // the issuer names the key, and must then be the one that signed
  const verifiedAccessToken = (token: string) =>
    cached(`pat:${token}`, async () => {
      const issuer = decodeJwt(token).iss;
      const issuerKey = issuer ? accessTokenIssuers.get(issuer) : undefined;
      if (!issuer || !issuerKey) throw new Error('unknown access token issuer');
      return (await jwtVerify(token, issuerKey, { algorithms: ALGORITHMS, issuer, requiredClaims: ['exp'] })).payload;
    });

  return async (req: Request, res: Response, next: NextFunction) => {
    const scope = scopeFor(req.path);
    const accessToken = req.headers.platformaccesstoken;
    if (typeof accessToken === 'string' && accessToken !== '' && scope === CREATE_SCOPE) {
      try {
        res.locals.creator = (await verifiedAccessToken(accessToken)).iss;
        return next();
      } catch {
        return sendProblem(res, {
          status: 401,
          title: 'Unauthorized',
          detail: 'The platform access token is not valid.',
        });
      }
    }
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return sendProblem(res, { status: 401, title: 'Unauthorized', detail: 'A bearer token is required.' });
    }
    let payload: JWTPayload;
    try {
      payload = await verified(m[1]!);
    } catch {
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      return sendProblem(res, { status: 401, title: 'Unauthorized', detail: 'The bearer token is not valid.' });
    }
    const org = typeof payload.org === 'string' && payload.org.trim() !== '' ? payload.org.trim() : null;
    if (scope === SUPPORT_SCOPE) {
      if (!scopesOf(payload).includes(scope))
        return sendProblem(res, {
          status: 403,
          title: 'Forbidden',
          detail: `The token must carry the scope ${scope}.`,
        });
      // (the rate limit counts per creator: support callers without an org share one count)
      res.locals.creator = org ?? 'support';
      return next();
    }
    if (!scopesOf(payload).includes(scope) || !org) {
      return sendProblem(res, {
        status: 403,
        title: 'Forbidden',
        detail: `The token must carry the scope ${scope} and an org claim.`,
      });
    }
    res.locals.creator = org;
    next();
  };
}
