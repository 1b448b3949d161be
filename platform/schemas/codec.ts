import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro, { type Schema as AvscSchema, type Type } from 'avsc';
import { permanent, retriable } from '../errors.ts';
import { withRetry } from '../retry.ts';
import { TOPICS, topicName, type TopicKey, type TopicValues } from '../topics.ts';

const schemaDir = join(import.meta.dirname, '..', '..', 'schemas');

export function loadSchema(name: string): AvscSchema {
  return JSON.parse(readFileSync(join(schemaDir, `${name}.avsc`), 'utf8')) as AvscSchema;
}

/** Is this a failure to reach the registry (retry) rather than bad bytes (dead-letter)? */
function isRegistryUnavailable(err: unknown): boolean {
  const e = err as { status?: number; message?: string; timeout?: boolean };
  if (e?.timeout) return true;
  // Network failures first: the registry client reports them with status 400 ("socket hang up"
  // when the server drops a kept-alive connection), which would otherwise read as a rejection.
  if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|EPIPE|socket hang up|timeout/i.test(e?.message ?? '')) return true;
  if (typeof e?.status === 'number') return e.status >= 500 || e.status === 429 || e.status === 408;
  return false;
}

type Resolver = ReturnType<Type['createResolver']>;
type Decoder = { reader: Type; resolver: Resolver | null };

/** Registry calls get a deadline: the HTTP client under the library has none, and a request can hang. */
const REGISTRY_TIMEOUT_MS = 10_000;

/**
 * The registry client registers a new subject and only then sets its compatibility; a second
 * client registering the same subject in between reads the registry's default instead. That
 * settles within moments, so the mismatch (or the conflict of two setting it at once) is retried
 * briefly before it counts as real.
 */
const isSettlingCompatibility = (err: unknown) =>
  (err as Error)?.name === 'ConfluentSchemaRegistryCompatibilityError' ||
  // two clients setting a new subject's compatibility at once: the registry creates the rule for
  // one and answers 409 to the other (several instances starting together); the retry finds it set
  (err as { status?: number })?.status === 409;

function withDeadline<T>(what: string, call: () => Promise<T>): Promise<T> {
  return withRetry(
    () =>
      new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(Object.assign(new Error(`${what}: no answer in ${REGISTRY_TIMEOUT_MS} ms`), { timeout: true })),
          REGISTRY_TIMEOUT_MS,
        );
        call().then(
          (v) => (clearTimeout(timer), resolve(v)),
          (e: unknown) => (clearTimeout(timer), reject(e)),
        );
      }),
    {
      // about 12 s in all: another process's first registration of the subject (register, then
      // set its compatibility) can take that long on a loaded machine (seen in the tests)
      maxAttempts: 10,
      initialMs: 200,
      maxMs: 2_000,
      shouldRetry: (err) => isRegistryUnavailable(err) || isSettlingCompatibility(err),
    },
  );
}

/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte schema id, body) for every topic, with
 * schemas registered under TopicNameStrategy subjects (`<topic>-value`) at BACKWARD
 * compatibility. Values are decoded with the project's own schema as the reader schema, so a
 * producer writing an older compatible version still yields the current TypeScript type.
 *
 * Registration and schema look-ups go through @kafkajs/confluent-schema-registry; the per-record
 * work is done here with types and resolvers built once per schema id, because the library
 * rebuilds the reader type and resolver on every decode.
 */
export class AvroCodec {
  private readonly registry: SchemaRegistry;
  private readonly ids = new Map<TopicKey, number>();
  private readonly types = new Map<TopicKey, Type>();
  private readonly headers = new Map<TopicKey, Buffer>();
  /** where `encode` writes a value before copying it out (grown when a value does not fit) */
  private scratch = Buffer.allocUnsafe(64 * 1024);
  /** per topic, per writer schema id */
  private readonly decoders = new Map<TopicKey, Map<number, Decoder>>();

  constructor(
    private readonly registryUrl: string,
    private readonly topicPrefix: string,
  ) {
    this.registry = new SchemaRegistry({ host: registryUrl, clientId: 'notifications', retry: { retries: 3 } });
  }

  subject(key: TopicKey): string {
    return `${topicName(this.topicPrefix, key)}-value`;
  }

  /** Registers (idempotently) the schema of each topic and remembers its id for encoding. */
  async register(keys: readonly TopicKey[] = Object.keys(TOPICS) as TopicKey[]): Promise<Map<TopicKey, number>> {
    for (const key of keys) {
      if (this.ids.has(key)) continue;
      const schema = loadSchema(TOPICS[key].schema);
      const subject = this.subject(key);
      const { id } = await withDeadline(`registering ${subject}`, async () => {
        try {
          return await this.registry.register(
            { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
            { subject, compatibility: COMPATIBILITY.BACKWARD },
          );
        } catch (err) {
          // The client sets a new subject's compatibility in a second request after registering
          // it; when that one was lost (the registry overloaded, the process killed between the
          // two), the subject stays at the registry's default (NONE) and every later registration
          // refuses it. Set it as the first registration would have, then try again. A level an
          // operator chose (anything but NONE) is left alone and still refused.
          if ((err as Error)?.name === 'ConfluentSchemaRegistryCompatibilityError')
            await this.setBackwardIfUnset(subject);
          throw err;
        }
      });
      const header = Buffer.alloc(5);
      header.writeInt32BE(id, 1);
      this.ids.set(key, id);
      this.headers.set(key, header);
    }
    return new Map(this.ids);
  }

  /**
   * Sets a subject's compatibility to BACKWARD when the registry has it at NONE (the Confluent
   * API's GET and PUT /config/{subject}); any other level is an operator's choice and left alone.
   */
  private async setBackwardIfUnset(subject: string): Promise<void> {
    const url = `${this.registryUrl.replace(/\/$/, '')}/config/${encodeURIComponent(subject)}`;
    const headers = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
    const current = await fetch(url, { headers, signal: AbortSignal.timeout(REGISTRY_TIMEOUT_MS) });
    if (!current.ok) return;
    const { compatibilityLevel } = (await current.json()) as { compatibilityLevel?: string };
    if (compatibilityLevel?.toUpperCase() !== 'NONE') return;
    const set = await fetch(url, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ compatibility: COMPATIBILITY.BACKWARD }),
      signal: AbortSignal.timeout(REGISTRY_TIMEOUT_MS),
    });
    if (!set.ok)
      throw Object.assign(new Error(`setting ${subject} to BACKWARD: ${set.status}`), { status: set.status });
  }

  schemaId(key: TopicKey): number {
    const id = this.ids.get(key);
    if (id === undefined) throw new Error(`schema for topic ${key} is not registered`);
    return id;
  }

  private type(key: TopicKey): Type {
    let type = this.types.get(key);
    if (!type) this.types.set(key, (type = avro.Type.forSchema(loadSchema(TOPICS[key].schema))));
    return type;
  }

  async encode<K extends TopicKey>(key: K, value: TopicValues[K]): Promise<Buffer> {
    return this.encodeNow(key, value);
  }

  /** `encode` without the promise, for the runtime's per-record path: encoding needs no I/O once registered. */
  encodeNow<K extends TopicKey>(key: K, value: TopicValues[K]): Buffer {
    const header = this.headers.get(key);
    if (!header) throw new Error(`schema for topic ${key} is not registered`);
    const type = this.type(key);
    try {
      // Written once into a reused scratch buffer, then copied out in one pooled allocation
      // (toBuffer and a concat would allocate and copy twice, zero-filling the first).
      header.copy(this.scratch, 0);
      let end = type.encode(value, this.scratch, header.length);
      if (end < 0) {
        this.scratch = Buffer.allocUnsafe(2 * (this.scratch.length - end));
        header.copy(this.scratch, 0);
        end = type.encode(value, this.scratch, header.length);
      }
      return Buffer.from(this.scratch.subarray(0, end));
    } catch (err) {
      const paths: string[] = [];
      type.isValid(value, { errorHook: (path) => paths.push(path.join('.')) });
      const detail = paths.length > 0 ? `invalid fields: ${paths.join(', ')}` : (err as Error).message;
      throw permanent('ENCODE_FAILED', `value does not match the ${TOPICS[key].schema} schema (${detail})`, err);
    }
  }

  async decode<K extends TopicKey>(key: K, bytes: Buffer | null): Promise<TopicValues[K]> {
    const value = this.decodeKnown(key, bytes);
    if (value !== undefined) return value;
    const writerId = (bytes as Buffer).readInt32BE(1);
    return this.read(key, await this.decoder(key, writerId), bytes as Buffer);
  }

  /**
   * `decode` without the promise when the writer's schema has been read before (every record but
   * the first of each schema id); `undefined` when the registry must be asked first. Bad bytes
   * throw, as in `decode`.
   */
  decodeKnown<K extends TopicKey>(key: K, bytes: Buffer | null): TopicValues[K] | undefined {
    if (bytes === null) throw permanent('DECODE_FAILED', 'record has no value (tombstone)');
    if (bytes.length < 5 || bytes[0] !== 0) {
      throw permanent('DECODE_FAILED', 'value is not in the Confluent wire format (magic byte 0 and a schema id)');
    }
    const decoder = this.decoders.get(key)?.get(bytes.readInt32BE(1));
    return decoder ? this.read(key, decoder, bytes) : undefined;
  }

  private read<K extends TopicKey>(key: K, decoder: Decoder, bytes: Buffer) {
    const body = bytes.subarray(5);
    try {
      const value = decoder.resolver
        ? decoder.reader.fromBuffer(body, decoder.resolver)
        : decoder.reader.fromBuffer(body);
      return value as TopicValues[K];
    } catch (err) {
      throw permanent(
        'DECODE_FAILED',
        `value cannot be decoded as ${TOPICS[key].schema}: ${(err as Error).message}`,
        err,
      );
    }
  }

  /**
   * What decoding one writer schema id needs, built once: the topic's own type as the reader and,
   * when the writer's schema differs (an older or newer compatible version), a resolver.
   */
  private async decoder(key: TopicKey, writerId: number): Promise<Decoder> {
    let writer: Type;
    try {
      const schema = await withDeadline(`reading schema ${writerId}`, () => this.registry.getSchema(writerId));
      writer = avro.Type.forSchema((schema as unknown as Type).schema());
    } catch (err) {
      if (isRegistryUnavailable(err)) {
        throw retriable('DEPENDENCY_UNAVAILABLE', `schema registry unavailable: ${(err as Error).message}`, err);
      }
      throw permanent('DECODE_FAILED', `writer schema ${writerId} cannot be read: ${(err as Error).message}`, err);
    }
    const reader = this.type(key);
    let resolver: Resolver | null = null;
    if (!reader.equals(writer)) {
      try {
        resolver = reader.createResolver(writer);
      } catch (err) {
        throw permanent(
          'DECODE_FAILED',
          `schema ${writerId} cannot be read as ${TOPICS[key].schema}: ${(err as Error).message}`,
          err,
        );
      }
    }
    const decoder = { reader, resolver };
    let ofTopic = this.decoders.get(key);
    if (!ofTopic) this.decoders.set(key, (ofTopic = new Map()));
    ofTopic.set(writerId, decoder);
    return decoder;
  }
}
