import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/**
 * Whether a secret given by a caller is the configured one, in time that tells neither how much
 * of it matched nor (lengths differing: the given one is compared with itself) its length.
 */
export function sameSecret(given: string, wanted: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(wanted, 'utf8');
  return a.length === b.length ? timingSafeEqual(a, b) : !timingSafeEqual(a, a);
}

/** What a browser is asked for, with a 401: the key as the password of HTTP Basic (RFC 7617). */
const CHALLENGE = 'Basic realm="Altinn Notification Metrics", charset="UTF-8"';

/** The password of an `Authorization: Basic …` header (any user name); '' if it does not decode; undefined if not Basic. */
function basicPassword(authorization: string | undefined): string | undefined {
  const m = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(authorization ?? '');
  if (!m) return /^Basic(\s|$)/i.test(authorization ?? '') ? '' : undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? '' : text.slice(colon + 1);
}

/**
 * The reference's `MetricsApiKeyFilter`: `X-API-Key` must be the configured key (METRICS_API_KEY),
 * else 401 with its answers, in its order: no header, an empty one, no key configured, a wrong one.
 * Beyond the reference, so the metrics page opens in a browser (whose form cannot send a header):
 * without `X-API-Key`, the password of HTTP Basic stands for it, and a 401 asks for it
 * (`WWW-Authenticate`, as HTTP requires of a 401).
 */
export function metricsApiKey(configured: string | undefined) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers['x-api-key'];
    const given =
      header === undefined ? basicPassword(req.headers.authorization) : Array.isArray(header) ? header[0] : header;
    let refused: string | null = null;
    if (given === undefined) refused = 'API key required for Metrics endpoints';
    else if (given.trim() === '') refused = 'API key cannot be empty';
    else if (!configured || configured.trim() === '') refused = 'API key validation not configured';
    else if (!sameSecret(given, configured)) refused = 'Invalid API key';
    if (refused) return void res.status(401).set('WWW-Authenticate', CHALLENGE).json({ error: refused });
    next();
  };
}
