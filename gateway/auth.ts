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
export function authenticate(key: Key, o: AuthOptions) {
  const verifyOptions = {
    algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256'],
    ...(o.issuer ? { issuer: o.issuer } : {}),
    ...(o.audience ? { audience: o.audience } : {}),
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
      payload =
        typeof key === 'function'
          ? (await jwtVerify(m[1]!, key, verifyOptions)).payload
          : (await jwtVerify(m[1]!, key, verifyOptions)).payload;
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
