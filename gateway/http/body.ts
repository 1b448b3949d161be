import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type Response } from 'express';
import { sendProblem, sendValidationProblem } from '../problems.ts';

/** The type of a body-reading error for bytes that are not UTF-8 (answered 400 by `errorHandler`). */
export const INVALID_UTF8 = 'entity.invalid.utf8';

/** body-parser's `verify`: refuses bytes that are not UTF-8 (answered 400 by `errorHandler`). */
function utf8Only(_req: unknown, _res: unknown, buf: Buffer): void {
  if (!isUtf8(buf)) throw Object.assign(new Error('invalid UTF-8'), { type: INVALID_UTF8 });
}

/**
 * A JSON body parser with a size limit. JSON is UTF-8 (RFC 8259): bytes that are not are
 * refused, as ASP.NET's reader does, rather than read as U+FFFD. `type`: which requests it reads.
 */
export function jsonBody(limitBytes: number, type: string[] | (() => boolean)) {
  return express.json({
    limit: limitBytes,
    type,
    strict: false,
    verify: utf8Only,
  });
}

export const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * An HTML form's body (application/x-www-form-urlencoded, flat fields), UTF-8 as JSON's, with a
 * size limit; `requireForm` answers any other type 415.
 */
export function formBody(limitBytes: number) {
  return express.urlencoded({
    limit: limitBytes,
    extended: false,
    verify: utf8Only,
  });
}

/** 415 for a body that is not a form. */
export function requireForm(req: Request, res: Response, next: NextFunction): void {
  if (!req.is('application/x-www-form-urlencoded')) {
    return sendProblem(res, {
      type: 'https://tools.ietf.org/html/rfc9110#section-15.5.16',
      status: 415,
      title: 'Unsupported Media Type',
      detail: 'Send the form as application/x-www-form-urlencoded.',
    });
  }
  next();
}

/** 415 for a body that is not JSON. */
export function requireJson(req: Request, res: Response, next: NextFunction): void {
  if (!req.is(JSON_TYPES)) {
    return sendProblem(res, {
      status: 415,
      title: 'Unsupported Media Type',
      detail: 'The request body must be JSON (Content-Type: application/json).',
    });
  }
  next();
}

/**
 * The `Idempotency-Key` header (beyond the reference): absent → null; present but not 1 to 255
 * printable characters → answered 400 here, false.
 */
export function idempotencyKeyOf(req: Request, res: Response): string | null | false {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return null;
  const key = Array.isArray(raw) ? raw.join(',') : raw;
  if (!/^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(key)) {
    sendValidationProblem(res, {
      'Idempotency-Key': ['The Idempotency-Key header must be 1 to 255 printable ASCII characters.'],
    });
    return false;
  }
  return key;
}

/** With an idempotencyId in the body, an `Idempotency-Key` header, if sent, must be the same. */
export function headerKeyAgrees(req: Request, res: Response, idempotencyId: string): boolean {
  const key = idempotencyKeyOf(req, res);
  if (key === false) return false;
  if (key !== null && key !== idempotencyId) {
    sendValidationProblem(res, {
      'Idempotency-Key': ['The Idempotency-Key header must equal the idempotencyId of the body when both are sent.'],
    });
    return false;
  }
  return true;
}
