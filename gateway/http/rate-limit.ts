import type { NextFunction, Request, Response } from 'express';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../../platform/logger.ts';
import type { Redis } from '../../platform/redis/client.ts';
import { sendProblem } from '../problems.ts';

/**
 * Requests per second per creator (`res.locals.creator`), counted in Redis so gateway instances
 * share it: 429 with Retry-After beyond. When Redis cannot count, requests are let through
 * rather than every sender refused.
 */
export function rateLimit(o: { redis: Redis; keyPrefix: string; perSecond: number; log: Logger }) {
  const limiter = new RateLimiterRedis({
    storeClient: o.redis,
    keyPrefix: o.keyPrefix,
    points: o.perSecond,
    duration: 1,
    useRedisPackage: false,
  });
  return async (_req: Request, res: Response, next: NextFunction) => {
    try {
      await limiter.consume(res.locals.creator as string);
      next();
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil(err.msBeforeNext / 1000))));
        return sendProblem(res, {
          status: 429,
          title: 'Too Many Requests',
          detail: 'The rate limit for this organisation is exceeded.',
        });
      }
      o.log.warn({ err }, 'rate limiter unavailable; request let through');
      next();
    }
  };
}
