import type { NextFunction, Request, Response } from 'express';
import { match } from 'path-to-regexp';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { RouteEntry } from '../routes.ts';

/**
 * Request metrics by method and route template: `gateway_requests_total{method,route,status}`
 * and `gateway_request_seconds{method,route}`. The template is the full path as routed
 * (`/notifications/api/v1/future/shipment/:id`), also for a request answered before its route
 * ran (401 and 403 from authentication, 405, a body the parser refused): it is found among the
 * app's routes by its path, the most specific template first. A path no route has is
 * `unmatched` (so ids in unknown paths never become labels). A client that hung up is counted
 * as 499.
 */
export function requestMetrics(registry: Registry, routes: () => RouteEntry[]) {
  const requests = new Counter({
    name: 'gateway_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'gateway_request_seconds',
    help: 'Time to answer, by method and route template',
    labelNames: ['method', 'route'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  let table: { method: string; template: string; matches: (path: string) => boolean }[] | null = null;
  const build = () =>
    routes()
      .map((r) => {
        const m = match(r.path, { decode: false });
        return { method: r.method, template: r.path, matches: (p: string) => m(p) !== false };
      })
      // static segments before parameters: /future/shipment/feed before /future/shipment/:id
      .sort((a, b) => a.template.split(':').length - b.template.split(':').length);
  const templateOf = (method: string, path: string): string => {
    table ??= build();
    let any: string | null = null;
    for (const t of table) {
      if (!t.matches(path)) continue;
      if (t.method === method || (method === 'HEAD' && t.method === 'GET')) return t.template;
      any ??= t.template;
    }
    return any ?? 'unmatched';
  };
  // methods are a closed set as labels: anything else is counted as OTHER
  const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
  return (req: Request, res: Response, next: NextFunction) => {
    const end = latency.startTimer();
    const path = req.path;
    // 'close' comes for an answered request and for one the client hung up on (counted as 499)
    res.on('close', () => {
      const method = METHODS.has(req.method) ? req.method : 'OTHER';
      const route = templateOf(req.method, path);
      end({ method, route });
      requests.inc({ method, route, status: res.writableFinished ? String(res.statusCode) : '499' });
    });
    next();
  };
}
