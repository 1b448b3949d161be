import type { Redis } from 'ioredis';
import type { KafkaAdapter, OutboundRecord } from './kafka/adapter.ts';
import { inRedis } from './redis/client.ts';
import type { AvroCodec } from './schemas/codec.ts';
import type { DeadLetter } from './schemas/generated/dead-letter.ts';
import { TOPICS, topicName, type TopicKey } from './topics.ts';

/** On a replayed record: the stage it is for. Every other stage reading the topic passes it by. */
export const REPLAY_FOR_HEADER = 'x-notifications-replay-for';
/** On a replayed record: the dead letter it replays (`partition:offset` on the dead-letter topic). */
export const REPLAY_OF_HEADER = 'x-notifications-replay-of';

/** What became of a dead letter: replayed once, or marked handled by an operator. */
export interface LetterState {
  state: 'replayed' | 'handled';
  at: number;
}

export interface Letter {
  /** `partition:offset` on the dead-letter topic */
  id: string;
  letter: DeadLetter;
  state: LetterState | null;
}

export interface LetterFilter {
  stage?: string;
  code?: string;
  since?: number;
  until?: number;
  /** the original record's key */
  key?: string;
  /** also those replayed or handled */
  all?: boolean;
}

export type ReplayResult = { kind: 'done' } | { kind: 'not-found' } | { kind: 'already'; state: LetterState };

/**
 * The dead-letter topic, as an operator works it (`scripts/dlq.ts`, `./dev dlq`): list the
 * letters (filtered, and grouped by the original record, which several stages may have
 * dead-lettered), show one with its original record decoded, replay one, or mark it handled.
 *
 * A replay writes the original record (key, value, headers) to its original topic again, with a
 * header naming the stage that dead-lettered it: only that stage handles it, every other stage
 * of the topic passes it by (so a stage that handled the original never sees it twice). Each
 * letter is replayed at most once: its state is claimed in Redis (SET NX) before the write, and
 * given back if the write fails; a second replay answers what became of the first. The stages'
 * own de-duplication (ids derived from the order, the send ledger) is the second line.
 */
export class DeadLetters {
  constructor(
    private readonly kafka: Pick<KafkaAdapter, 'readSince' | 'plainProducer'>,
    private readonly codec: AvroCodec,
    private readonly redis: Redis,
    private readonly topicPrefix: string,
    private readonly redisPrefix: string,
  ) {}

  private stateKey = (id: string) => `${this.redisPrefix}dlq:${id}`;
  /** a state outlives its letter on the topic */
  private readonly stateTtlSeconds = TOPICS.deadLetter.retentionMs / 1000 + 86_400;

  /** Every letter on the topic that `filter` lets through, oldest first. */
  async list(filter: LetterFilter = {}): Promise<Letter[]> {
    const raw: { id: string; value: Buffer | null }[] = [];
    await this.kafka.readSince(topicName(this.topicPrefix, 'deadLetter'), 0, (r) =>
      raw.push({ id: `${r.partition}:${r.offset}`, value: r.value }),
    );
    const letters: Letter[] = [];
    for (const r of raw) {
      let letter: DeadLetter;
      try {
        letter = await this.codec.decode('deadLetter', r.value);
      } catch {
        continue; // not a dead letter of ours
      }
      if (filter.stage && letter.stage !== filter.stage) continue;
      if (filter.code && letter.errorCode !== filter.code) continue;
      if (filter.since !== undefined && letter.failedAt < filter.since) continue;
      if (filter.until !== undefined && letter.failedAt > filter.until) continue;
      if (filter.key !== undefined && letter.originalKey?.toString('utf8') !== filter.key) continue;
      letters.push({ id: r.id, letter, state: null });
    }
    const states = letters.length
      ? await inRedis('dead letters', () => this.redis.mget(letters.map((l) => this.stateKey(l.id))))
      : [];
    letters.forEach((l, i) => (l.state = states[i] ? (JSON.parse(states[i]!) as LetterState) : null));
    letters.sort((a, b) => a.letter.failedAt - b.letter.failedAt);
    return filter.all ? letters : letters.filter((l) => l.state === null);
  }

  async get(id: string): Promise<Letter | null> {
    return (await this.list({ all: true })).find((l) => l.id === id) ?? null;
  }

  /** The original record, decoded with its topic's schema, or null when it is not one (a poison record). */
  async original(letter: DeadLetter): Promise<unknown> {
    const key = (Object.keys(TOPICS) as TopicKey[]).find(
      (k) => topicName(this.topicPrefix, k) === letter.originalTopic,
    );
    if (!key || !letter.originalValue) return null;
    try {
      return await this.codec.decode(key, letter.originalValue);
    } catch {
      return null;
    }
  }

  /** Writes the letter's original record back for the stage that dead-lettered it, once. */
  async replay(id: string, now = Date.now()): Promise<ReplayResult> {
    const found = await this.get(id);
    if (!found) return { kind: 'not-found' };
    const earlier = await this.claim(id, { state: 'replayed', at: now });
    if (earlier) return { kind: 'already', state: earlier };
    const l = found.letter;
    const headers: Record<string, Buffer> = { ...l.originalHeaders };
    headers[REPLAY_FOR_HEADER] = Buffer.from(l.stage);
    headers[REPLAY_OF_HEADER] = Buffer.from(id);
    const record: OutboundRecord = { topic: l.originalTopic, key: l.originalKey, value: l.originalValue, headers };
    const producer = await this.kafka.plainProducer();
    try {
      await producer.send([record]);
    } catch (err) {
      // not written: the letter can be replayed again
      await this.redis.del(this.stateKey(id)).catch(() => undefined);
      throw err;
    } finally {
      await producer.close();
    }
    return { kind: 'done' };
  }

  /** Marks a letter handled (dealt with another way): listed no more, never replayed. */
  async handled(id: string, now = Date.now()): Promise<ReplayResult> {
    if (!(await this.get(id))) return { kind: 'not-found' };
    const earlier = await this.claim(id, { state: 'handled', at: now });
    return earlier ? { kind: 'already', state: earlier } : { kind: 'done' };
  }

  /** Sets a letter's state unless it has one: null when set, else the state it had. */
  private async claim(id: string, state: LetterState): Promise<LetterState | null> {
    const set = await inRedis('dead letters', () =>
      this.redis.set(this.stateKey(id), JSON.stringify(state), 'EX', this.stateTtlSeconds, 'NX'),
    );
    if (set === 'OK') return null;
    const was = await inRedis('dead letters', () => this.redis.get(this.stateKey(id)));
    return was ? (JSON.parse(was) as LetterState) : state;
  }
}
