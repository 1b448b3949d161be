import type { Redis } from 'ioredis';
import { inRedis } from './client.ts';

/**
 * The first answer kept for a question, so every handling of one input record decides alike.
 *
 * A stage whose decision rests on something outside (a sender's condition endpoint) may decide
 * one way, have its transaction fail or be fenced, and decide the other way when the record is
 * handled again. Where one of the two ways left something outside Kafka's transaction (a
 * deferral held in Redis, released later), both would happen. `keep` stores the answer for the
 * question if none is stored yet and returns the one stored: the first handling's answer, for
 * every later handling of the same question within `ttlSeconds`.
 *
 * One key per question (`<prefix><question>`): the question is the caller's (an order's id and
 * its check number), and is never parsed.
 */
export class FirstAnswers<T> {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  async keep(question: string, answer: T): Promise<T> {
    const key = `${this.prefix}${question}`;
    const json = JSON.stringify(answer);
    const set = await inRedis('first answers', () => this.redis.set(key, json, 'EX', this.ttlSeconds, 'NX'));
    if (set === 'OK') return answer;
    const kept = await inRedis('first answers', () => this.redis.get(key));
    // (gone since, at its expiry: this answer is the first now)
    return kept === null ? answer : (JSON.parse(kept) as T);
  }
}
