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

/**
 * The reference's `MetricsApiKeyFilter`: `X-API-Key` must be the configured key (METRICS_API_KEY),
 * else 401 with its answers, in its order: no header, an empty one, no key configured, a wrong one.
 */
export function metricsApiKey(configured: string | undefined) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers['x-api-key'];
    const given = Array.isArray(header) ? header[0] : header;
    let refused: string | null = null;
    if (header === undefined) refused = 'API key required for Metrics endpoints';
    else if (!given || given.trim() === '') refused = 'API key cannot be empty';
    else if (!configured || configured.trim() === '') refused = 'API key validation not configured';
    else if (!sameSecret(given, configured)) refused = 'Invalid API key';
    if (refused) return void res.status(401).json({ error: refused });
    next();
  };
}
