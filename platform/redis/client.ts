import { Redis, ReplyError } from 'ioredis';
import { permanent, retriable, type PipelineError } from '../errors.ts';

/** A Redis connection for the pipeline's stores (the only place the project creates one). */
export function createRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, lazyConnect: false });
}

/**
 * A failed Redis call in the error taxonomy, by the error's type: a reply error is Redis
 * refusing the command itself (a script's own error, a wrong type: a bug, so permanent);
 * anything else (a closed connection, a timeout, retries per request used up) means Redis is
 * unavailable for now.
 */
export function redisError(what: string, err: unknown): PipelineError {
  const message = `${what}: ${(err as Error)?.message ?? String(err)}`;
  return err instanceof ReplyError
    ? permanent('UNEXPECTED', message, err)
    : retriable('DEPENDENCY_UNAVAILABLE', message, err);
}

/** Runs a Redis call, its failure as `redisError`. */
export async function inRedis<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw redisError(what, err);
  }
}

export type { Redis };
