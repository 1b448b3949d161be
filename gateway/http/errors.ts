import type { NextFunction, Request, Response } from 'express';
import { PipelineError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { PROBLEMS, sendProblem, sendValidationProblem } from '../problems.ts';
import { INVALID_UTF8 } from './body.ts';

/**
 * The gateway's last error handler: a clear 4xx for what the client sent; 503 NOT-00004 when a
 * dependency is down; a bare 500 otherwise. No stack traces or internal names leave the process.
 *
 * Errors are told apart by their type and code, never their text: body-parser's errors carry a
 * `type` and an http-errors `status`/`expose`; a dependency that is down surfaces as a
 * PipelineError with code DEPENDENCY_UNAVAILABLE, which every adapter the gateway uses (Kafka,
 * Redis, the registries, the schema registry) throws for it.
 */
export function errorHandler(o: { bodyLimitBytes: number; log: Logger }) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const e = err as { type?: string; status?: number; expose?: boolean; limit?: number };
    if (e.type === 'entity.too.large') {
      return sendProblem(res, {
        status: 413,
        title: 'Payload Too Large',
        // (the limit of the reader that refused it: a form's is smaller than the API's)
        detail: `The request body exceeds ${e.limit ?? o.bodyLimitBytes} bytes.`,
      });
    }
    if (e.type === 'entity.parse.failed') {
      return sendValidationProblem(res, { $: ['The request body is not valid JSON.'] });
    }
    if (e.type === INVALID_UTF8) {
      return sendValidationProblem(res, { $: ['The request body is not valid UTF-8.'] });
    }
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      return sendProblem(res, {
        status: 415,
        title: 'Unsupported Media Type',
        detail: (err as Error).message,
      });
    }
    // Any other error of reading the body (a body that does not match its Content-Encoding, a
    // length that does not match, an aborted upload) is the client's: body-parser marks it as an
    // http-errors client error (status 4xx, expose), answered as such, never as a 500.
    if (e.expose === true && e.status === 400) {
      return sendValidationProblem(res, {
        $: ['The request body could not be read (check Content-Encoding and Content-Length).'],
      });
    }
    if (e.expose === true && typeof e.status === 'number' && e.status > 400 && e.status < 500) {
      return sendProblem(res, {
        status: e.status,
        title: 'Client Error',
        detail: 'The request body could not be read.',
      });
    }
    if (req.socket.destroyed) return;
    if (err instanceof PipelineError && err.code === 'DEPENDENCY_UNAVAILABLE') {
      o.log.warn({ err: { code: err.code, message: err.message }, path: req.path }, 'dependency unavailable');
      return sendProblem(res, PROBLEMS.dependencyUnavailable);
    }
    o.log.error({ err, path: req.path }, 'request failed');
    sendProblem(res, { status: 500, title: 'Internal Server Error', detail: 'An unexpected error occurred.' });
  };
}
