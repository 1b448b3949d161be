import { readFileSync } from 'node:fs';
import { Redis, ReplyError, type RedisOptions } from 'ioredis';
import { permanent, retriable, type PipelineError } from '../errors.ts';
import type { Config } from '../config.ts';
import { warningRuns, type Logger } from '../logger.ts';

/**
 * TLS for a `rediss://` URL, trusting the CAs of `caFile` (PEM) instead of the system's. The
 * server's certificate is checked against the URL's host (Node's default), never skipped. The
 * password travels in the URL (`rediss://:password@host:port`, or `user:password@` for an ACL
 * user), so it is a secret as a whole.
 */
export function redisTlsOptions(caFile: string | undefined): RedisOptions {
  return caFile ? { tls: { ca: [readFileSync(caFile, 'utf8')] } } : {};
}

/**
 * Where and how the pipeline reaches Redis (`redisConnection` reads it from the config): the
 * URL carries the password, TLS (`rediss://`) and the database; with `sentinels` its host is the
 * master group's name, and the sentinels say which server is the primary.
 */
export interface RedisConnection {
  url: string;
  tlsCaFile?: string;
  sentinels?: { host: string; port: number }[];
  sentinelPassword?: string;
  /** REDIS_SOCKET_TIMEOUT_MS (0 or none: never) */
  socketTimeoutMs?: number;
}

export function redisConnection(
  config: Pick<
    Config,
    'REDIS_URL' | 'REDIS_TLS_CA_FILE' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_PASSWORD' | 'REDIS_SOCKET_TIMEOUT_MS'
  >,
  /** who needs it, for the error without a REDIS_URL ("the gateway") */
  who?: string,
): RedisConnection {
  if (!config.REDIS_URL) throw new Error(who ? `REDIS_URL is required by ${who}` : 'REDIS_URL is not set');
  return {
    url: config.REDIS_URL,
    ...(config.REDIS_TLS_CA_FILE ? { tlsCaFile: config.REDIS_TLS_CA_FILE } : {}),
    ...(config.REDIS_SENTINELS ? { sentinels: config.REDIS_SENTINELS } : {}),
    ...(config.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: config.REDIS_SENTINEL_PASSWORD } : {}),
    ...(config.REDIS_SOCKET_TIMEOUT_MS ? { socketTimeoutMs: config.REDIS_SOCKET_TIMEOUT_MS } : {}),
  };
}

/**
 * ioredis's options for a connection through Sentinel. The failover detector listens for the
 * sentinels' `+switch-master` and then drops the connection to the old primary at once, so a
 * primary that froze (its connection open, answering nothing: a paused VM, a fork of a large
 * dataset) holds the calls only until the sentinels have failed it over; the calls not answered
 * are sent again to the new primary (as after any reconnect).
 */
export function sentinelOptions(c: RedisConnection & { sentinels: { host: string; port: number }[] }): RedisOptions {
  const url = new URL(c.url);
  const tls = url.protocol === 'rediss:' ? (redisTlsOptions(c.tlsCaFile).tls ?? {}) : null;
  return {
    sentinels: c.sentinels,
    name: decodeURIComponent(url.hostname),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    db: Number(url.pathname.slice(1) || 0),
    ...(c.sentinelPassword ? { sentinelPassword: c.sentinelPassword } : {}),
    failoverDetector: true,
    // the old primary's connection is closed (FIN) and, as a frozen server never answers it,
    // destroyed after this long (ioredis's default 2 s)
    disconnectTimeout: 500,
    // TLS to the sentinels and the servers they name alike, trusting the same CAs
    ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
  };
}

/**
 * A Redis connection for the pipeline's stores (the only place the gateway, the stages, the
 * scripts and the bench create one; tests use `testRedis`), its connection errors logged to the
 * process's `logger` (see `logConnectionErrors`).
 */
export function createRedis(connection: RedisConnection, logger: Logger): Redis {
  const readonly = reconnectingOnReadonly();
  const options: RedisOptions = {
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    lazyConnect: false,
    reconnectOnError: readonly.reconnectOnError,
    // A connection that owes answers and hears nothing for this long is destroyed and made
    // again, its calls sent again on the new one, as after any lost connection: a host gone
    // without a reset (a node lost, a network cut) or a managed Redis's endpoint moved to the
    // new primary at a failover is left in seconds, not at TCP's retransmission timeout
    // (about 15 minutes on Linux). Redis answers every call the pipeline makes at once (its
    // one blocking command, WAIT, for the send ledger's claims and the scheduled items, is held
    // under this timeout by the config and sent on a connection of its own: `ReplicaWait`), so
    // a healthy connection never waits this long.
    ...(connection.socketTimeoutMs ? { socketTimeout: connection.socketTimeoutMs } : {}),
  };
  const { sentinels } = connection;
  const redis = sentinels
    ? new Redis({ ...options, ...sentinelOptions({ ...connection, sentinels }) })
    : new Redis(connection.url, { ...options, ...redisTlsOptions(connection.tlsCaFile) });
  redis.on('connect', readonly.connected);
  logConnectionErrors(redis, logger);
  return redis;
}

/**
 * Logs a Redis connection's errors: the first of an outage at warn, then at most one every
 * `everyMs` with how many came meanwhile, and the connection's return at info. ioredis emits an
 * error at each failed reconnect (about one every 2 s while Redis is down) and, with no listener,
 * prints each to stderr as plain text (`[ioredis] Unhandled error event`), outside the JSON logs:
 * eight lines from every process at each Redis restart of the chaos test. The calls that fail
 * meanwhile answer for themselves (`redisError`).
 */
export function logConnectionErrors(redis: Redis, logger: Logger, everyMs = 30_000): void {
  const runs = warningRuns(logger, 'Redis connection error', 'Redis connection ready again', everyMs);
  redis.on('error', (err: Error) => runs.warn({ err: err.message }));
  redis.on('ready', () => runs.over());
}

/**
 * Reply errors that speak of the server's state, not of the command: a primary demoted to a
 * replica by a failover (READONLY, and UNBLOCKED for a blocked call it let go), a dataset still
 * loading after a restart (LOADING), a replica that lost its primary (MASTERDOWN), a script
 * running too long (BUSY), a cluster resharding or down (TRYAGAIN, CLUSTERDOWN), too few
 * replicas for `min-replicas-to-write` (NOREPLICAS), a disk that takes no writes (MISCONF), memory
 * full (OOM), and WAIT asked of a primary a failover demoted meanwhile (a plain ERR: a claim or
 * a scheduled item written, then its wait for replicas refused; dead-lettered in a chaos run
 * before). The same command succeeds once the server is well again.
 */
const NOT_NOW =
  /^(READONLY|UNBLOCKED|LOADING|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF|OOM) |^ERR WAIT cannot be used with replica instances/;

/**
 * After a failover the old primary, now a replica, answers every write READONLY while the
 * connection to it stays up; behind a name that now points at the new primary (a managed Redis's
 * endpoint), only a new connection reaches it. So READONLY closes the connection and ioredis
 * connects again; the command itself fails, retriable (`redisError`), and its caller tries again.
 * Once per connection: ioredis closes it again at each READONLY of a burst, adding a listener to
 * the socket each time (a MaxListenersExceededWarning on stderr after ten).
 */
function reconnectingOnReadonly(): { reconnectOnError: (err: Error) => boolean; connected: () => void } {
  let closing = false;
  return {
    reconnectOnError: (err) => {
      if (closing || !err.message.startsWith('READONLY ')) return false;
      closing = true;
      return true;
    },
    connected: () => void (closing = false),
  };
}

/**
 * A failed Redis call in the error taxonomy, by the error's type: a reply error is Redis
 * refusing the command itself (a script's own error, a wrong type: a bug, so permanent) unless
 * it speaks of the server's state (`NOT_NOW`: a failover, a restart's loading); anything else (a
 * closed connection, a timeout, retries per request used up) means Redis is unavailable for now.
 */
export function redisError(what: string, err: unknown): PipelineError {
  const message = `${what}: ${(err as Error)?.message ?? String(err)}`;
  return err instanceof ReplyError && !notNow(err as Error)
    ? permanent('UNEXPECTED', message, err)
    : retriable('DEPENDENCY_UNAVAILABLE', message, err);
}

/** `NOT_NOW`, or a transaction (MULTI) Redis discarded for such an error of a command in it */
function notNow(err: Error & { previousErrors?: Error[] }): boolean {
  if (NOT_NOW.test(err.message)) return true;
  const inside = err.previousErrors;
  return err.message.startsWith('EXECABORT ') && (inside ?? []).some((e) => NOT_NOW.test(e.message));
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
