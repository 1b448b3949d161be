import type { Response } from 'express';

/** RFC 9457 problem bodies in the shapes the reference API answers with (§2, §3.3). */
export const PROBLEMS = {
  missingContact: {
    status: 422,
    errorCode: 'NOT-00001',
    title: 'Missing contact information for recipient(s)',
    detail: 'Missing contact information for recipient(s)',
  },
  requestTerminated: {
    status: 499,
    errorCode: 'NOT-00002',
    title: 'Request terminated',
    detail: 'The client disconnected or cancelled the request.',
  },
  shipmentNotFound: {
    status: 404,
    errorCode: 'NOT-00003',
    title: 'Shipment not found',
    detail: 'No shipment with this id exists for the caller.',
  },
  dependencyUnavailable: {
    status: 503,
    errorCode: 'NOT-00004',
    title: 'A temporary network failure occurred',
    detail: 'A temporary network failure occurred',
  },
} as const;

export function sendProblem(
  res: Response,
  p: { status: number; title: string; detail?: string; errorCode?: string; [k: string]: unknown },
): void {
  res.status(p.status).type('application/problem+json').json(p);
}

/**
 * At most this many properties are listed in a 400's `errors`, so an answer stays near the size
 * of its request (60,000 empty recipients once made a 9.5 MB answer); `detail` counts the rest.
 */
export const MAX_LISTED_ERRORS = 50;

export function sendValidationProblem(res: Response, errors: Record<string, string[]>): void {
  const paths = Object.keys(errors);
  const listed = paths.length > MAX_LISTED_ERRORS ? paths.slice(0, MAX_LISTED_ERRORS) : paths;
  sendProblem(res, {
    type: 'https://tools.ietf.org/html/rfc9110#section-15.5.1',
    title: 'One or more validation errors occurred.',
    status: 400,
    ...(listed.length < paths.length
      ? { detail: `${paths.length} properties have errors; the first ${listed.length} are listed.` }
      : {}),
    errors: Object.fromEntries(listed.map((p) => [p, errors[p]!])),
  });
}
