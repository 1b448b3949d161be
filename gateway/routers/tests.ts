import express, { type Request, type Response } from 'express';
import { otherMethods } from '../routes.ts';

/**
 * The reference's stub condition endpoint (`SendConditionController`, "Private API"): GET
 * `/tests/sendcondition?conditionMet=true|false` answers `{"sendNotification": <conditionMet>}`,
 * so an order's `conditionEndpoint` can be pointed at a known answer when testing (locally,
 * `./dev up` lets the egress guard call loopback). Like the reference it needs no token, and
 * binds the flag as ASP.NET binds a `bool` from the query outside an `[ApiController]`: `true` or
 * `false` in any case, spaces around allowed, the first value if several; missing or anything
 * else is `false` (no 400). A request with a body type other than JSON is 415, as its
 * `[Consumes("application/json")]` answers.
 */
export function testsRouter() {
  const router = express.Router();
  const path = '/tests/sendcondition';
  router.get(path, (req: Request, res: Response) => {
    const type = req.headers['content-type'];
    if (type !== undefined && !isJson(type)) {
      res.status(415).end();
      return;
    }
    res.json({ sendNotification: boolFromQuery(req.query['conditionMet']) });
  });
  router.use(path, otherMethods(['GET', 'HEAD']));
  return router;
}

/** .NET's `bool.TryParse` of the query's first value, false when it fails (as an unchecked binding leaves it) */
function boolFromQuery(v: unknown): boolean {
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' && first.trim().toLowerCase() === 'true';
}

/**
 * Whether a Content-Type is `application/json`, or a subset of it as ASP.NET's `MediaType`
 * counts one (parameters allowed; a `+json` suffix, e.g. `application/problem+json`, counts).
 */
function isJson(contentType: string): boolean {
  const essence = contentType.split(';')[0]!.trim().toLowerCase();
  const [type, subtype] = essence.split('/');
  if (type !== 'application' || subtype === undefined) return false;
  return subtype === 'json' || subtype.endsWith('+json');
}
