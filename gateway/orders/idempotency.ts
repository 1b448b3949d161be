import type { Redis } from 'ioredis';
import { inRedis } from '../../platform/redis/client.ts';
import { defineScripts } from '../../platform/redis/lua.ts';
import type { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { chainIds, reminderOrderId } from './map.ts';

/**
 * One order chain per (creator, idempotencyId), under concurrent requests and gateway restarts.
 *
 * The first request claims the key with a lease and the records it is about to publish; once
 * Kafka has acknowledged them it marks the key done with the response body. A concurrent
 * request finds the claim and waits for the answer. A request that finds a claim whose lease ran
 * out (its gateway died between claim and answer) takes it over and publishes the *claimed*
 * records again: their order ids are derived from the key, so consumers de-duplicate them, and
 * the chain is the first request's, whatever the replay carried.
 */
export type Claim =
  | { kind: 'claimed'; lease: number }
  | { kind: 'done'; body: unknown }
  | { kind: 'busy' }
  | { kind: 'takeover'; records: string; body: unknown; lease: number };

/**
 * How a claim this request holds is given back when it will not be finished: `drop` deletes it
 * (nothing was published: a retry starts afresh), `lapse` ends its lease and keeps its records
 * (they may have been written: a retry takes the claim over at once and writes them again).
 */
export type GiveBack = 'drop' | 'lapse';

/**
 * An answer as it is kept for the key's retention: the ids derived from (creator, idempotencyId)
 * it names (the chain's, its main order's, its reminders') as short tokens, about half its size.
 * JSON.stringify escapes every control character, so U+0001 never occurs in an answer and
 * cannot be mistaken for a token.
 */
// eslint-disable-next-line no-control-regex -- U+0001 is the token's mark, chosen as one JSON never holds
const TOKEN = /\u0001(c|m|r(\d+);)/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
/**
 * What every chain's and instant order's answer begins with, once its ids are tokens: kept as
 * U+0002 alone. The rest (a sender's reference, the reminders) is then short enough, for most
 * answers, for Redis to keep the value in one allocation with its header: 64 bytes a key less.
 */
const OPENING = '{"notificationOrderId":"\u0001c","notification":{"shipmentId":"\u0001m"';
const OPENED = '\u0002';

export function packAnswer(json: string, creator: string, idempotencyId: string): string {
  const named = json.match(UUID);
  if (!named) return json;
  const ids = chainIds(creator, idempotencyId, named.length);
  const tokens = new Map<string, string>([
    [ids.chainId, '\u0001c'],
    [ids.mainId, '\u0001m'],
    ...ids.reminderIds.map((id, i) => [id, `\u0001r${i};`] as [string, string]),
  ]);
  const packed = json.replace(UUID, (id) => tokens.get(id) ?? id);
  return packed.startsWith(OPENING) ? OPENED + packed.slice(OPENING.length) : packed;
}

export function unpackAnswer(stored: string, creator: string, idempotencyId: string): string {
  const ids = chainIds(creator, idempotencyId, 0);
  const opened = stored.startsWith(OPENED) ? OPENING + stored.slice(OPENED.length) : stored;
  return opened.replace(TOKEN, (_t, what: string, i?: string) =>
    what === 'c' ? ids.chainId : what === 'm' ? ids.mainId : reminderOrderId(ids.chainId, Number(i)),
  );
}

const SCRIPTS = {
  idemClaim: 'idempotency/claim.lua',
  idemFinish: 'idempotency/finish.lua',
  idemGiveBack: 'idempotency/give-back.lua',
} as const;

/** how often a give-back or a finish is tried again in the background, ms (until it is done, or the lease ends) */
export const BACKGROUND_RETRY_MS = 1_000;

/** something tried again in the background: `attempt` says whether it is done; given up at `until` */
interface Later {
  until: number;
  attempt: () => Promise<boolean>;
}

/** whether `p` resolves (its error, if any, is the caller's to have logged or not care about) */
const succeeds = (p: Promise<unknown>): Promise<boolean> =>
  p.then(
    () => true,
    () => false,
  );

export class IdempotencyStore {
  /**
   * where every write is made (claims, finishes, give-backs): with `replicas`, its connection (a
   * WAIT covers only its own connection's writes); else the gateway's
   */
  private readonly claims: ReturnType<typeof defineScripts<keyof typeof SCRIPTS>>;
  /** what is tried again in the background, all on one timer (`inBackground`) */
  private readonly later = new Set<Later>();
  private timer: NodeJS.Timeout | null = null;
  /** first waits for a replica under way (`untilHeld`), not yet in `later` */
  private readonly underWay = new Set<Promise<void>>();
  /** set by `drain`: what is left waits for it, not for the timer */
  private draining = false;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly leaseMs: number,
    /** how long a key is remembered (its claim, then its answer), ms */
    private readonly retentionMs = 90 * 24 * 3600 * 1000,
    /**
     * with REDIS_WAIT_REPLICAS: a claim (new, or taken over) is used once Redis's replicas hold
     * it, so a failover cannot lose the claim of an order whose records are published (a retry
     * would then claim the key afresh and publish its own records under the same derived ids:
     * a body that differs would replace the order still waiting for its send time)
     */
    private readonly replicas?: ReplicaWait,
  ) {
    this.claims = defineScripts(replicas ? replicas.connection : redis, SCRIPTS);
  }

  private key(creator: string, idempotencyId: string): string {
    return `${this.prefix}idem:${creator}:${Buffer.from(idempotencyId).toString('base64url')}`;
  }

  async claim(creator: string, idempotencyId: string, records: string, body: unknown, now: number): Promise<Claim> {
    const key = this.key(creator, idempotencyId);
    const lease = now + this.leaseMs;
    const r = (await inRedis('idempotency', () =>
      this.claims.idemClaim(
        key,
        lease,
        records,
        packAnswer(JSON.stringify(body), creator, idempotencyId),
        now,
        this.retentionMs,
      ),
    )) as string[];
    if (this.replicas && (r[0] === 'claimed' || r[0] === 'takeover')) {
      try {
        await this.replicas.hold('the claim');
      } catch (err) {
        // not used: dropped (a new one), or its lease ended (one taken over), so a retry starts
        // afresh or takes it over at once; what is refused is answered 503
        await this.giveBackKey(key, lease, r[0] === 'claimed' ? 'drop' : 'lapse');
        throw err;
      }
    }
    const answer = (stored: string) => JSON.parse(unpackAnswer(stored, creator, idempotencyId)) as unknown;
    switch (r[0]) {
      case 'claimed':
        return { kind: 'claimed', lease };
      case 'done':
        return { kind: 'done', body: answer(r[1]!) };
      case 'busy':
        return { kind: 'busy' };
      default:
        return { kind: 'takeover', records: r[1]!, body: answer(r[2]!), lease };
    }
  }

  /**
   * Gives back the claim this request made or took over (`lease`, what `claim` answered) and
   * will not finish: its replicas' wait was refused, its recipients' lookup failed, its records
   * could not be published or its client hung up. Never fails. Only while the claim is still the
   * one this request left (`idempotency/give-back.lua`: pending, with its lease), so a give-back
   * that comes late (its lease ran out and another request took the claim over, or finished it)
   * touches nothing.
   */
  giveBack(creator: string, idempotencyId: string, lease: number, how: GiveBack): Promise<void> {
    return this.giveBackKey(this.key(creator, idempotencyId), lease, how);
  }

  /**
   * Tried once on the claims' connection before the caller answers (in a failover the gateway's
   * other connection may still be looking for the new primary); then, if that failed, in the
   * background until it is done, and with REDIS_WAIT_REPLICAS until a replica holds it
   * (`untilHeld`).
   */
  private async giveBackKey(key: string, lease: number, how: GiveBack): Promise<void> {
    const once = () => succeeds(inRedis('idempotency', () => this.claims.idemGiveBack(key, lease, how)));
    const given = await once();
    if (this.replicas) this.untilHeld(once, given, 'the give-back');
    else if (!given) this.inBackground(once);
  }

  /**
   * With REDIS_WAIT_REPLICAS, a write made after the claim (its give-back, or its finish) is
   * waited for in the background until a replica holds it, and made again meanwhile: a replica
   * can hold the claim and miss what followed it (frozen, or cut off, with the write in its
   * socket's buffer), and be promoted with the claim pending (the Sentinel failover test saw it
   * for a give-back: 409 "still being registered" for the lease's 30 s). A wait covers every
   * write made on its connection before it, the write, or one that found nothing to do, on this
   * primary. `done`: whether `once` was just done; the first wait at once, not awaited.
   */
  private untilHeld(once: () => Promise<boolean>, done: boolean, subject: string): void {
    const replicas = this.replicas!;
    const held = async () => {
      if (done && (await succeeds(replicas.hold(subject)))) return true;
      done = await once();
      return false;
    };
    const first = held().then((ok) => void (ok || this.inBackground(held)));
    this.underWay.add(first);
    void first.finally(() => this.underWay.delete(first));
  }

  /**
   * Calls `attempt` every BACKGROUND_RETRY_MS until it says it is done or the lease's time has
   * passed (when what it does no longer matters: the claim's holder is taken for gone and its
   * claim taken over). Everything waiting shares one timer, which holds no process up; how many
   * wait is bounded by how many give-backs and finishes Redis refuses in one lease.
   */
  private inBackground(attempt: () => Promise<boolean>): void {
    this.later.add({ until: Date.now() + this.leaseMs, attempt });
    if (!this.draining) this.timer ??= setTimeout(() => void this.tryAgain(), BACKGROUND_RETRY_MS).unref();
  }

  /** one round of what is tried again in the background, then the next in BACKGROUND_RETRY_MS */
  private async tryAgain(): Promise<void> {
    await this.round();
    this.timer =
      this.later.size > 0 && !this.draining
        ? setTimeout(() => void this.tryAgain(), BACKGROUND_RETRY_MS).unref()
        : null;
  }

  private async round(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [...this.later].map(async (l) => {
        if (l.until <= now || (await l.attempt())) this.later.delete(l);
      }),
    );
  }

  /**
   * At the gateway's shutdown, once its requests are answered: what waits to be tried again is
   * tried every BACKGROUND_RETRY_MS until it is done or `withinMs` has passed, rather than dropped
   * with the process (a finish dropped leaves a retry of its request answered 409 until the lease
   * ends, then taking the claim over; a give-back dropped, 409 until then). Answers how many were
   * left undone.
   */
  async drain(withinMs: number): Promise<number> {
    this.draining = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const until = Date.now() + withinMs;
    const pause = (ms: number) =>
      new Promise<void>((r) => setTimeout(r, Math.max(0, Math.min(ms, until - Date.now()))));
    while (Date.now() < until && this.underWay.size + this.later.size > 0) {
      if (this.underWay.size > 0) {
        await Promise.race([Promise.all(this.underWay), pause(until - Date.now())]);
        continue;
      }
      const started = Date.now();
      // (a round Redis does not answer is not waited for past the bound)
      await Promise.race([this.round(), pause(until - Date.now())]);
      if (this.later.size > 0) await pause(BACKGROUND_RETRY_MS - (Date.now() - started));
    }
    return this.underWay.size + this.later.size;
  }

  /** how many give-backs and finishes are waiting to be tried again (`gateway_idempotency_retrying`) */
  get waiting(): number {
    return this.later.size;
  }

  /**
   * Marks the key done once its records are published, on the claims' connection; with
   * REDIS_WAIT_REPLICAS, then waited for in the background until a replica holds it (not
   * waited for by the caller: the order is taken). Lost with a failover, the claim would be
   * pending again on the promoted replica: a retry answered 409 until the lease ran out, then
   * taking the claim over.
   */
  async finish(creator: string, idempotencyId: string): Promise<void> {
    const key = this.key(creator, idempotencyId);
    await inRedis('idempotency', () => this.claims.idemFinish(key, this.retentionMs));
    if (this.replicas) this.untilHeld(this.finishOnce(key), true, 'the finish');
  }

  /**
   * Marks the key done in the background, for a finish Redis refused once its records were
   * published: tried every BACKGROUND_RETRY_MS until Redis answers (with REDIS_WAIT_REPLICAS,
   * until a replica holds it) or the lease ends, so a retry of the request is answered from the
   * key (200) rather than waiting the lease out and taking the claim over.
   */
  finishLater(creator: string, idempotencyId: string): void {
    const once = this.finishOnce(this.key(creator, idempotencyId));
    if (this.replicas) this.untilHeld(once, false, 'the finish');
    else this.inBackground(once);
  }

  private finishOnce(key: string): () => Promise<boolean> {
    return () => succeeds(inRedis('idempotency', () => this.claims.idemFinish(key, this.retentionMs)));
  }
}
