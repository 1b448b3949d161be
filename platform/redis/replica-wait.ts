import type { Redis } from 'ioredis';
import { retriable, type PipelineError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { redisError } from './client.ts';

/** How a wait for replicas came out: enough held the writes, too few in time, or it failed. */
export type ReplicaWaitOutcome = 'held' | 'short' | 'failed';

/**
 * Waits until `count` Redis replicas hold the writes made on `connection` (Redis `WAIT`), for a
 * write whose loss at a failover would cost a message: Redis replicates asynchronously, so a
 * failover to a replica loses what it had not received.
 *
 * `connection` is the writes' own: a WAIT covers only its connection's writes, and holds the
 * connection it is sent on until the replicas answer (up to `waitMs`), with every call behind it.
 * One WAIT is out at a time, and the writes answered while it is out share the next (sent after
 * them, so it covers them): writes made together wait together, two waits for a burst rather
 * than one each, and with a replica gone they are refused in about two `waitMs`, not one after
 * another.
 */
export class ReplicaWait {
  /** the WAIT asked for and not sent yet, which every write answered meanwhile shares */
  private next: Promise<number> | null = null;
  /** the WAIT last sent (settled or not): the next is sent once it is answered */
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    /** where the writes waited for are made */
    readonly connection: Redis,
    readonly count: number,
    readonly waitMs: number,
    /** what waits (`send ledger`), in its errors */
    readonly use: string,
    /** told each wait's outcome */
    private readonly observe?: (outcome: ReplicaWaitOutcome) => void,
  ) {}

  /**
   * Resolves once `count` replicas hold every write answered on `connection` before the call;
   * otherwise rejects, retriable, as `<use> (replicas): <subject> reached <n> of <count> replicas
   * in <ms> ms`. A WAIT that fails is retriable whatever Redis answered: one refused for good (a
   * proxy or a managed Redis that does not take it) is the configuration's fault, not the
   * record's, and dead-lettered every record would be; held, the stage stops with why in its
   * retries.
   */
  async hold(subject: string): Promise<void> {
    const what = `${this.use} (replicas)`;
    let held: number;
    try {
      held = await this.acknowledged();
    } catch (err) {
      this.observe?.('failed');
      throw waitError(what, err);
    }
    this.observe?.(held < this.count ? 'short' : 'held');
    if (held < this.count)
      throw retriable(
        'DEPENDENCY_UNAVAILABLE',
        `${what}: ${subject} reached ${held} of ${this.count} replicas in ${this.waitMs} ms`,
      );
  }

  private acknowledged(): Promise<number> {
    if (this.next !== null) return this.next;
    const next = this.last.then(() => {
      this.next = null;
      return this.connection.wait(this.count, this.waitMs);
    });
    this.next = next;
    this.last = next.catch(() => undefined);
    return next;
  }
}

/** the setting that asks for the waits, named in what they log and throw */
const SETTING = 'REDIS_WAIT_REPLICAS';

function waitError(what: string, err: unknown): PipelineError {
  const e = redisError(what, err);
  return e.retriable ? e : retriable('DEPENDENCY_UNAVAILABLE', `${e.message} (${SETTING} needs WAIT)`, err);
}

/**
 * At a process's start, for REDIS_WAIT_REPLICAS asking for `wanted` replicas: warns when Redis's primary has fewer replicas in step (online), since every
 * write that waits for them would then wait out its time and be tried again, so nothing of it
 * would go on; and logs an error when Redis refuses WAIT itself (a proxy or service that does not
 * take it, or a replica named as the primary), which holds those writes likewise. The retries say
 * why too, and redis_replica_waits_total counts them. A Redis not reachable yet says nothing
 * here: the writes will.
 */
export async function checkReplicas(
  redis: Redis,
  wanted: number,
  logger: Pick<Logger, 'warn' | 'error'>,
): Promise<void> {
  const setting = SETTING;
  if (wanted <= 0) return;
  let replication: string;
  try {
    replication = await redis.info('replication');
  } catch {
    return;
  }
  try {
    await redis.wait(0, 0);
  } catch (err) {
    logger.error(
      { err: (err as Error).message },
      `${setting}: Redis refuses WAIT; what waits for its replicas is held until it takes it (or ${setting} is 0)`,
    );
    return;
  }
  const connected = Number(/^connected_slaves:(\d+)/m.exec(replication)?.[1] ?? 0);
  const online = [...replication.matchAll(/^slave\d+:.*\bstate=online\b/gm)].length;
  if (online < wanted)
    logger.warn(
      { connected, online, wanted },
      `${setting}: Redis has fewer replicas in step than it asks for; what waits for them is held until they are`,
    );
}
