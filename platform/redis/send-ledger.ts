import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { PipelineError, retriable } from '../errors.ts';
import { redisError } from './client.ts';
import type { ReplicaWait } from './replica-wait.ts';
import { withRetry, type BackoffOptions } from '../retry.ts';

/**
 * How long an outcome already known is tried to be recorded through a Redis outage (about 30 s:
 * a restart, a failover) before the sender gives up and its replay reports the notification
 * failed. Without it, every hand-over under way when Redis restarted was reported failed though
 * the server had answered (ioredis gives up on a command after three reconnection attempts).
 */
export const RECORD_RETRY: Partial<BackoffOptions> & { maxAttempts: number } = {
  initialMs: 200,
  maxMs: 5_000,
  factor: 2,
  maxAttempts: 10,
};

/** `write`, tried again while Redis is unavailable (`RECORD_RETRY`), never on Redis refusing it. */
export function recordPersistently<T>(
  write: () => Promise<T>,
  policy: Partial<BackoffOptions> & { maxAttempts: number } = RECORD_RETRY,
): Promise<T> {
  return withRetry(() => write(), {
    ...policy,
    shouldRetry: (err) => !(err instanceof PipelineError) || err.retriable,
  });
}

/** How long a sender waits for another one's claim on a notification to be settled (SEND_CLAIM_WAIT_MS). */
export const CLAIM_WAIT_MS = 15_000;

/**
 * How a sender says it lives: its ledger sets a key of its own every `everyMs` (from its first
 * claim until it closes), lasting `ttlMs`. A claim whose sender's key has been missing for
 * `graceMs` is its sender's crash, taken at once rather than waited out for `claimWaitMs`. The
 * grace covers a key lost with a Redis restart (the sender sets it again as it reconnects).
 */
export const LIVENESS = { everyMs: 2_000, ttlMs: 6_000, graceMs: 3_000 };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** of how many notifications this process's claims are remembered, held or unused (see `begin`) */
const CLAIMS_KEPT = 10_000;
/**
 * how many unused claims are remembered per notification (one per failed try: a minute's tries
 * of a record at the runner's backoff are a few dozen); beyond, the oldest is forgotten, and
 * found again it is reported failed (never sent twice)
 */
const UNUSED_PER_NOTIFICATION = 256;

/** `map` with `key` set to `value`, its oldest entries let go beyond CLAIMS_KEPT */
function keep<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > CLAIMS_KEPT) map.delete(map.keys().next().value!);
}

/**
 * At most one hand-over per notification: a sender claims a notification in Redis (fsync'd)
 * before it hands it to SMTP or SMPP, and records the outcome (the status it reported) after. A
 * replay after a crash finds the claim and does not hand the notification over again: `done`
 * gives back the status and reference to report again; `sending` means a hand-over whose outcome
 * is unknown (its sender stopped inside it), reported failed.
 *
 * A claim says whose it is and when it was made (`sending|<process>|<ms>|<n>`), so a claim is
 * never mistaken for a crash while its sender lives:
 * - another instance's claim younger than `claimWaitMs` is waited out while that instance lives
 *   (`LIVENESS`): it may still be handing the notification over (it held the partition until a
 *   rebalance moved it here, and finishes what it started), and its outcome, once recorded, is
 *   what this one reports. A claim whose sender no longer says it lives, or still unsettled after
 *   `claimWaitMs`, is taken as its sender's crash.
 * - this process's own claim under which nothing was handed over is known as its own and used:
 *   one whose write went unanswered (the connection lost as Redis restarted; the client may send
 *   it again on reconnecting), or one let go (`abandon`) while Redis could not be told.
 * Marks expire after `ttlSeconds` (longer than any notification's life).
 */
export type LedgerEntry =
  { state: 'sending' } | { state: 'done'; status: string; reference: string; description: string | null };

/**
 * An outcome as the ledger keeps it: `done:<status>|<reference>`, or, with a description (why it
 * failed), `done:` and the three as JSON, so a replay reports the description too.
 */
function outcomeValue(status: string, reference: string, description: string | null): string {
  return description === null
    ? `done:${status}|${reference}`
    : `done:${JSON.stringify({ status, reference, description })}`;
}

function parseOutcome(v: string): Extract<LedgerEntry, { state: 'done' }> {
  const body = v.slice(5);
  if (body.startsWith('{')) {
    const o = JSON.parse(body) as { status: string; reference: string; description: string | null };
    return { state: 'done', status: o.status, reference: o.reference, description: o.description };
  }
  const [status, ...rest] = body.split('|');
  return { state: 'done', status: status!, reference: rest.join('|'), description: null };
}

export class SendLedger {
  /** outcomes being written (tried again while Redis is unavailable) */
  private readonly recording = new Set<Promise<unknown>>();
  /** this process's claims are told apart from every other's by it */
  private readonly owner = randomUUID();
  private claims = 0;
  /** per notification, this process's claim made and not yet settled (`done`, `abandon`) */
  private readonly held = new Map<string, string>();
  /**
   * per notification, this process's claims maybe made, under which nothing was handed over:
   * every one, not only the last (a claim let go while Redis could not be told stays there while
   * the tries after it fail outright, as against a primary a failover demoted: found after them,
   * it was reported failed, 12 SMS in a chaos run)
   */
  private readonly unused = new Map<string, string[]>();
  private readonly claimWaitMs: number;
  private readonly pollMs: number;
  private readonly now: () => number;
  private readonly liveness: typeof LIVENESS;
  private readonly replicas: ReplicaWait | null;
  /**
   * where claims are written: with `replicas`, its connection, the claims' own, since a WAIT
   * holds the connection it is sent on until the replicas answer, and every call behind it (this
   * process's liveness among them: held long enough, another instance would take its claims for
   * a crash's)
   */
  private readonly claimsRedis: Redis;
  /** while this process says it lives: its renewal, and its renewal on reconnecting */
  private beat: { timer: NodeJS.Timeout; onReady: () => void } | null = null;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    /** how a known outcome is tried again while Redis is unavailable (`done`) */
    private readonly recordRetry = RECORD_RETRY,
    claims: {
      /** how long another instance's claim is waited out before it is taken as a crash */
      waitMs?: number;
      /** how often it is looked at meanwhile */
      pollMs?: number;
      now?: () => number;
      liveness?: Partial<typeof LIVENESS>;
      /**
       * how many replicas must hold a claim before it is used, how long it waits for them, and
       * the claims' connection (REDIS_WAIT_REPLICAS, REDIS_REPLICA_WAIT_MS); none by default
       */
      replicas?: ReplicaWait;
    } = {},
  ) {
    this.replicas = claims.replicas && claims.replicas.count > 0 ? claims.replicas : null;
    this.claimsRedis = this.replicas?.connection ?? redis;
    this.claimWaitMs = claims.waitMs ?? CLAIM_WAIT_MS;
    this.pollMs = claims.pollMs ?? 200;
    this.now = claims.now ?? Date.now;
    this.liveness = { ...LIVENESS, ...claims.liveness };
  }

  private key = (id: string) => `${this.prefix}ledger:${id}`;
  private aliveKey = (owner: string) => `${this.prefix}ledger-alive:${owner}`;

  /**
   * Says this process lives, and keeps saying it until `close`: from its first claim, since
   * only a process with claims needs to. (Issued before the claim, on the same connection.)
   */
  private live(): void {
    if (this.beat !== null || this.closed) return;
    const say = () => {
      this.redis.set(this.aliveKey(this.owner), '1', 'PX', this.liveness.ttlMs).catch(() => undefined);
    };
    const timer = setInterval(say, this.liveness.everyMs);
    timer.unref();
    this.beat = { timer, onReady: say };
    this.redis.on('ready', say);
    say();
  }

  /**
   * Stops saying this process lives (its sender closes, its hand-overs settled): a claim it
   * still holds is then taken as a crash's without the wait.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.beat === null) return;
    clearInterval(this.beat.timer);
    this.redis.off('ready', this.beat.onReady);
    this.beat = null;
    await this.redis.del(this.aliveKey(this.owner)).catch(() => undefined);
  }

  /**
   * A ledger call, its failure in the one taxonomy of Redis errors (`redisError`): Redis
   * unavailable, or in a failover, is tried again; Redis refusing the command itself (a key of
   * the wrong type) is permanent, so the record is dead-lettered with why rather than retried
   * for ever, holding its partition.
   */
  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw redisError(`send ledger (${what})`, err);
    }
  }

  /** Marks the notification as being handed over; returns the existing entry if there is one. */
  async begin(id: string): Promise<LedgerEntry | null> {
    // A sender gives a hand-over's place back once its outcome's write is issued, not answered
    // (senderStage). The outcomes issued before this claim are waited for before its hand-over
    // (on the same connection they are answered before it; with `replicas` the claim has its
    // own); one that failed is being tried again, and until it is recorded (or given up) this
    // claim's hand-over does not start: what a crash can leave in doubt stays within the
    // places, through a Redis outage too. (Normally they are settled already: no wait.)
    const before = this.recording.size > 0 ? [...this.recording] : [];
    this.live();
    const claim = `sending|${this.owner}|${this.now()}|${++this.claims}`;
    let set: string | null;
    try {
      set = await this.run('begin', () => this.claimsRedis.set(this.key(id), claim, 'EX', this.ttlSeconds, 'NX'));
    } catch (err) {
      // it may have been made: if so, the next claim of this notification here finds it as ours
      this.unusedClaim(id, claim);
      throw err;
    }
    if (before.length > 0) await Promise.allSettled(before);
    if (set === 'OK') return this.replicated(id, claim, false);
    return this.existing(id, claim);
  }

  /**
   * `claim` (made by this process) is used for a hand-over: once the replicas asked for hold it
   * (`WAIT`, which waits for its connection's writes so far), so a failover to one of them
   * keeps it and a replay elsewhere does not hand the notification over again. A claim found in
   * Redis (`again`: written on an earlier connection, which this one's WAIT does not cover) is
   * written again first. Replicas that do not answer in time leave the claim unused (this
   * process's next try uses it) and the hand-over is tried later.
   */
  private async replicated(id: string, claim: string, again: boolean): Promise<null> {
    if (this.replicas !== null) {
      try {
        if (
          again &&
          (await this.run('claim', () => this.claimsRedis.set(this.key(id), claim, 'KEEPTTL', 'XX'))) !== 'OK'
        )
          throw retriable('DEPENDENCY_UNAVAILABLE', 'send ledger (claim): the claim ran out before it was used');
        await this.replicas.hold('the claim');
      } catch (err) {
        this.unusedClaim(id, claim);
        throw err;
      }
    }
    return this.claimed(id, claim);
  }

  /** remembers `claim` among the notification's claims under which nothing was handed over */
  private unusedClaim(id: string, claim: string): void {
    const claims = [...(this.unused.get(id) ?? []), claim].slice(-UNUSED_PER_NOTIFICATION);
    keep(this.unused, id, claims);
  }

  private claimed(id: string, claim: string): null {
    this.unused.delete(id);
    keep(this.held, id, claim);
    return null;
  }

  /** The entry found where this process's claim `claim` was refused. */
  private async existing(id: string, claim: string): Promise<LedgerEntry | null> {
    const firstSeen = this.now();
    /** since when the claim's sender has been seen not to say it lives */
    let silentSince: number | null = null;
    for (;;) {
      const v = await this.run('read', () => this.redis.get(this.key(id)));
      if (v === null) return this.begin(id);
      if (v.startsWith('done:')) return parseOutcome(v);
      // ours, and nothing was handed over under it: its answer lost (the client sent it again
      // after reconnecting, or the claim threw), or let go while Redis could not be told
      if (v === claim || this.unused.get(id)?.includes(v)) return this.replicated(id, v, true);
      const [, owner, at] = v.split('|');
      // an earlier attempt here that stopped inside its hand-over, or a claim of unknown age
      if (owner === undefined || owner === this.owner || !UUID.test(owner) || !Number.isFinite(Number(at)))
        return { state: 'sending' };
      // another instance's: waited out, from when it was made or (its clock may differ) first
      // seen, while that instance says it lives
      const until = Math.min(Number(at), firstSeen) + this.claimWaitMs;
      const left = until - this.now();
      if (left <= 0) return { state: 'sending' };
      const alive = await this.run('read', () => this.redis.exists(this.aliveKey(owner)));
      if (alive > 0) silentSince = null;
      else {
        silentSince ??= this.now();
        if (this.now() - silentSince >= this.liveness.graceMs) return { state: 'sending' };
      }
      await sleep(Math.min(this.pollMs, left));
    }
  }

  /**
   * Records the outcome of a hand-over (the status it is reported with, and why when it failed,
   * for a replay to report the same). The outcome is known
   * only in this process's memory, so a Redis outage is waited out (`recordRetry`) rather than
   * turned into a replay that must report it failed.
   */
  async done(id: string, status: string, reference = '', description: string | null = null): Promise<void> {
    // (the first write is issued before this returns: see begin)
    this.held.delete(id);
    const write = recordPersistently(
      () =>
        this.run('done', () =>
          this.redis.set(this.key(id), outcomeValue(status, reference, description), 'EX', this.ttlSeconds),
        ),
      this.recordRetry,
    );
    this.recording.add(write);
    try {
      await write;
    } finally {
      this.recording.delete(write);
    }
  }

  /**
   * The hand-over certainly did not happen (the server refused before taking the message, or it
   * was never asked): the claim is let go. Known here at once, so this process's next claim of
   * the notification uses it even when Redis cannot be told now (the deletion then fails, and
   * the handler with it, to be tried again); another instance still waits it out.
   */
  async abandon(id: string): Promise<void> {
    const claim = this.held.get(id);
    this.held.delete(id);
    if (claim !== undefined) this.unusedClaim(id, claim);
    await this.run('abandon', () => this.redis.del(this.key(id)));
    this.unused.delete(id);
  }
}
