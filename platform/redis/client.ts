import { readFileSync } from 'node:fs';
import { Redis, ReplyError, type RedisOptions } from 'ioredis';
import { permanent, retriable, type PipelineError } from '../errors.ts';

/**
 * TLS for a `rediss://` URL, trusting the CAs of `caFile` (PEM) instead of the system's. The
 * server's certificate is checked against the URL's host (Node's default), never skipped. The
 * password travels in the URL (`rediss://:password@host:port`, or `user:password@` for an ACL
 * user), so it is a secret as a whole.
 */
export function redisTlsOptions(caFile: string | undefined): RedisOptions {
  return caFile ? { tls: { ca: [readFileSync(caFile, 'utf8')] } } : {};
}

/** A Redis connection for the pipeline's stores (the only place the gateway, the stages, the scripts and the bench create one; tests use `testRedis`). */
export function createRedis(url: string, tlsCaFile?: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    lazyConnect: false,
    ...redisTlsOptions(tlsCaFile),
  });
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

export { Redis };
export type { RedisOptions };
