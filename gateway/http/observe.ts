import type { NextFunction, Request, Response } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * Request metrics by route template: `gateway_requests_total{route,status}` and
 * `gateway_request_seconds{route}`. A client that hung up is counted as 499.
 */
export function requestMetrics(registry: Registry) {
  const requests = new Counter({
    name: 'gateway_requests_total',
    help: 'HTTP requests answered, by route and status',
    labelNames: ['route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'gateway_request_seconds',
    help: 'Time to answer, by route',
    labelNames: ['route'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return (req: Request, res: Response, next: NextFunction) => {
    const end = latency.startTimer();
    // 'close' comes for an answered request and for one the client hung up on (counted as 499)
    res.on('close', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      end({ route });
      requests.inc({ route, status: res.writableFinished ? String(res.statusCode) : '499' });
    });
    next();
  };
}
