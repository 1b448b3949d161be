import type { Express, NextFunction, Request, Response } from 'express';
import { match } from 'path-to-regexp';
import { sendProblem } from './problems.ts';

/** One route the gateway answers: an upper-case method and an Express path (`/orders/:id`). */
export interface RouteEntry {
  method: string;
  path: string;
}

interface Layer {
  rawPath?: string | string[];
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/**
 * The routes an Express app really has, read from its router (routes, and routers mounted under
 * a path), so a table kept by hand cannot drift from it. Middleware without a route (static
 * files) is not a route.
 */
export function listRoutes(app: Express): RouteEntry[] {
  const out: RouteEntry[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all') out.push({ method: method.toUpperCase(), path: prefix + layer.route.path });
        }
      } else if (layer.handle?.stack && typeof layer.rawPath === 'string') {
        walk(layer.handle.stack, prefix + (layer.rawPath === '/' ? '' : layer.rawPath));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return out;
}

/**
 * A router's own 405 for the path it is mounted on (`router.use(path, …)`, after that path's
 * routes), for a path under the API base that answers without its token: otherwise the API's
 * authentication would answer 401 before `methodNotAllowed` could. Paths below it pass on.
 */
export function otherMethods(allow: string[]) {
  const allowed = allow.join(', ');
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.path !== '/') return next();
    res.setHeader('Allow', allowed);
    sendProblem(res, {
      status: 405,
      title: 'Method Not Allowed',
      detail: `${req.method} is not allowed here; allowed: ${allowed}.`,
    });
  };
}

/**
 * Middleware for after every route: a path that exists with other methods answers 405 with
 * `Allow` (GET implies HEAD), as HTTP asks, instead of 404. The table is read from the app on
 * the first request, when every route is in place.
 */
export function methodNotAllowed(app: Express) {
  let table: { matches: (path: string) => boolean; methods: Set<string> }[] | null = null;
  const build = () => {
    const byPath = new Map<string, Set<string>>();
    for (const r of listRoutes(app)) {
      const set = byPath.get(r.path) ?? new Set<string>();
      set.add(r.method);
      if (r.method === 'GET') set.add('HEAD');
      byPath.set(r.path, set);
    }
    return [...byPath].map(([path, methods]) => {
      const m = match(path, { decode: false });
      return { matches: (p: string) => m(p) !== false, methods };
    });
  };
  return (req: Request, res: Response, next: NextFunction) => {
    table ??= build();
    const allowed = new Set<string>();
    for (const t of table) if (t.matches(req.path)) for (const m of t.methods) allowed.add(m);
    if (allowed.size === 0 || allowed.has(req.method)) return next();
    res.setHeader('Allow', [...allowed].sort().join(', '));
    sendProblem(res, {
      status: 405,
      title: 'Method Not Allowed',
      detail: `${req.method} is not allowed here; allowed: ${[...allowed].sort().join(', ')}.`,
    });
  };
}
