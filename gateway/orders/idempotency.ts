import type { Redis } from 'ioredis';

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
  | { kind: 'claimed' }
  | { kind: 'done'; body: unknown }
  | { kind: 'busy' }
  | { kind: 'takeover'; records: string; body: unknown };

const CLAIM = `
  local cur = redis.call('GET', KEYS[1])
  if not cur then
    redis.call('SET', KEYS[1], cjson.encode({ state = 'pending', lease = tonumber(ARGV[1]), records = ARGV[2], body = ARGV[3] }))
    return { 'claimed' }
  end
  local v = cjson.decode(cur)
  if v.state == 'done' then return { 'done', v.body } end
  if v.lease > tonumber(ARGV[4]) then return { 'busy' } end
  v.lease = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], cjson.encode(v))
  return { 'takeover', v.records, v.body }`;

const FINISH = `
  local cur = redis.call('GET', KEYS[1])
  if not cur then return 0 end
  local v = cjson.decode(cur)
  redis.call('SET', KEYS[1], cjson.encode({ state = 'done', body = v.body }))
  return 1`;

type Scripted = Redis & {
  idemClaim(key: string, leaseUntil: number, records: string, body: string, now: number): Promise<string[]>;
  idemFinish(key: string): Promise<number>;
};

export class IdempotencyStore {
  private readonly redis: Scripted;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly leaseMs: number,
  ) {
    if (!('idemClaim' in redis)) redis.defineCommand('idemClaim', { numberOfKeys: 1, lua: CLAIM });
    if (!('idemFinish' in redis)) redis.defineCommand('idemFinish', { numberOfKeys: 1, lua: FINISH });
    this.redis = redis as Scripted;
  }

  private key(creator: string, idempotencyId: string): string {
    return `${this.prefix}idem:${creator}:${Buffer.from(idempotencyId).toString('base64url')}`;
  }

  async claim(creator: string, idempotencyId: string, records: string, body: unknown, now: number): Promise<Claim> {
    const r = await this.redis.idemClaim(
      this.key(creator, idempotencyId),
      now + this.leaseMs,
      records,
      JSON.stringify(body),
      now,
    );
    switch (r[0]) {
      case 'claimed':
        return { kind: 'claimed' };
      case 'done':
        return { kind: 'done', body: JSON.parse(r[1]!) };
      case 'busy':
        return { kind: 'busy' };
      default:
        return { kind: 'takeover', records: r[1]!, body: JSON.parse(r[2]!) };
    }
  }

  async finish(creator: string, idempotencyId: string): Promise<void> {
    await this.redis.idemFinish(this.key(creator, idempotencyId));
  }

  /** Drops a claim whose records could not be published, so a retry starts afresh. */
  async release(creator: string, idempotencyId: string): Promise<void> {
    await this.redis.del(this.key(creator, idempotencyId));
  }
}
