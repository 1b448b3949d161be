/**
 * One error taxonomy. Retry and dead-letter decisions read `retriable`, never the message.
 * Codes are stable strings that dashboards and dead-letter consumers may match on.
 */
export type ErrorCode =
  | 'DECODE_FAILED' // bytes on a topic that are not a record of the topic's schema
  | 'ENCODE_FAILED' // a stage emitted a record its output schema rejects
  | 'INVALID_RECORD' // well-formed but breaks a business rule
  | 'DEPENDENCY_UNAVAILABLE' // a registry, endpoint or server did not answer usefully
  | 'DEPENDENCY_REJECTED' // a dependency refused the request as malformed (4xx): retrying will not help
  | 'RETRIES_EXHAUSTED' // a retriable failure outlived the stage's retry budget
  | 'OUTCOME_UNKNOWN' // a write was committed or not, and which could not be learnt in time: retry the same write
  | 'UNEXPECTED'; // a thrown value that is not a PipelineError (a bug, most likely)

export class PipelineError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PipelineError';
    this.code = code;
    this.retriable = options.retriable;
  }
}

export const retriable = (code: ErrorCode, message: string, cause?: unknown) =>
  new PipelineError(code, message, { retriable: true, cause });

export const permanent = (code: ErrorCode, message: string, cause?: unknown) =>
  new PipelineError(code, message, { retriable: false, cause });

/** Any thrown value as a PipelineError; unknown errors keep their message under UNEXPECTED. */
export function classify(err: unknown): PipelineError {
  if (err instanceof PipelineError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PipelineError('UNEXPECTED', message, { retriable: true, cause: err });
}
