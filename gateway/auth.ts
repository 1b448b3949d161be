import { readFileSync } from 'node:fs';
import type { NextFunction, Request, Response } from 'express';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  importSPKI,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { sendProblem } from './problems.ts';

/**
 * Bearer tokens (reference §2): a JWT signed by a configured key, carrying the scope
 * `altinn:serviceowner/notifications.create` and the ordering organisation in `org`, which
 * becomes the creator (tenant) of everything the request touches.
 */
export const CREATE_SCOPE = 'altinn:serviceowner/notifications.create';

export interface AuthOptions {
  jwksUrl?: string | undefined;
  publicKeyFile?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
}

type Key = JWTVerifyGetKey | Awaited<ReturnType<typeof importSPKI>>;

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

/** express middleware: 401 without a valid token, 403 without the scope or an org; sets res.locals.creator. */
export function authenticate(key: Key, o: AuthOptions, cacheMs = 60_000) {
  const verifyOptions = {
    algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256'],
    ...(o.issuer ? { issuer: o.issuer } : {}),
    ...(o.audience ? { audience: o.audience } : {}),
  };
  // A sender reuses one token for many requests: its verified claims are kept until it expires
  // (at most `cacheMs`), so the signature is checked once rather than per request.
  const cache = new Map<string, { payload: JWTPayload; until: number }>();
  const verified = async (token: string): Promise<JWTPayload> => {
    const now = Date.now();
    const hit = cache.get(token);
    if (hit && hit.until > now) return hit.payload;
    const { payload } =
      typeof key === 'function'
        ? await jwtVerify(token, key, verifyOptions)
        : await jwtVerify(token, key, verifyOptions);
    if (cache.size >= 10_000) cache.clear();
    cache.set(token, { payload, until: payload.exp ? Math.min(now + cacheMs, payload.exp * 1000) : now + cacheMs });
    return payload;
  };
  return async (req: Request, res: Response, next: NextFunction) => {
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
    if (!scopesOf(payload).includes(CREATE_SCOPE) || !org) {
      return sendProblem(res, {
        status: 403,
        title: 'Forbidden',
        detail: `The token must carry the scope ${CREATE_SCOPE} and an org claim.`,
      });
    }
    res.locals.creator = org;
    next();
  };
}
