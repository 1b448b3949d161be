import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPATIBILITY, SchemaRegistry, SchemaType, type DecodeOptions } from '@kafkajs/confluent-schema-registry';
import type { Schema as AvscSchema } from 'avsc';
import { permanent, retriable } from '../errors.ts';
import { TOPICS, topicName, type TopicKey, type TopicValues } from '../topics.ts';

const schemaDir = join(import.meta.dirname, '..', '..', 'schemas');

export function loadSchema(name: string): AvscSchema {
  return JSON.parse(readFileSync(join(schemaDir, `${name}.avsc`), 'utf8')) as AvscSchema;
}

/** Is this a failure to reach the registry (retry) rather than bad bytes (dead-letter)? */
function isRegistryUnavailable(err: unknown): boolean {
  const e = err as { status?: number; code?: string; message?: string; name?: string };
  if (typeof e?.status === 'number') return e.status >= 500 || e.status === 429 || e.status === 408;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|socket hang up|timeout/i.test(e?.message ?? '');
}

/**
 * Avro in the Confluent wire format (magic byte, 4-byte schema id, body) for every topic, with
 * schemas registered under TopicNameStrategy subjects (`<topic>-value`) at BACKWARD
 * compatibility. Values are decoded with the project's own schema as the reader schema, so a
 * producer writing an older compatible version still yields the current TypeScript type.
 */
export class AvroCodec {
  private readonly registry: SchemaRegistry;
  private readonly ids = new Map<TopicKey, number>();
  private readonly readerSchemas = new Map<TopicKey, AvscSchema>();

  constructor(
    registryUrl: string,
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
      const { id } = await this.registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
        { subject: this.subject(key), compatibility: COMPATIBILITY.BACKWARD },
      );
      this.ids.set(key, id);
      this.readerSchemas.set(key, schema);
    }
    return new Map(this.ids);
  }

  schemaId(key: TopicKey): number {
    const id = this.ids.get(key);
    if (id === undefined) throw new Error(`schema for topic ${key} is not registered`);
    return id;
  }

  async encode<K extends TopicKey>(key: K, value: TopicValues[K]): Promise<Buffer> {
    try {
      return await this.registry.encode(this.schemaId(key), value);
    } catch (err) {
      const paths = (err as { paths?: string[][] }).paths;
      const detail = paths ? `invalid fields: ${paths.map((p) => p.join('.')).join(', ')}` : (err as Error).message;
      throw permanent('ENCODE_FAILED', `value does not match the ${TOPICS[key].schema} schema (${detail})`, err);
    }
  }

  async decode<K extends TopicKey>(key: K, bytes: Buffer | null): Promise<TopicValues[K]> {
    if (bytes === null) throw permanent('DECODE_FAILED', 'record has no value (tombstone)');
    if (bytes.length < 5 || bytes[0] !== 0) {
      throw permanent('DECODE_FAILED', 'value is not in the Confluent wire format (magic byte 0 and a schema id)');
    }
    const readerSchema = this.readerSchemas.get(key) ?? loadSchema(TOPICS[key].schema);
    const options = { [SchemaType.AVRO]: { readerSchema } } as DecodeOptions;
    try {
      return (await this.registry.decode(bytes, options)) as TopicValues[K];
    } catch (err) {
      if (isRegistryUnavailable(err)) {
        throw retriable('DEPENDENCY_UNAVAILABLE', `schema registry unavailable: ${(err as Error).message}`, err);
      }
      throw permanent(
        'DECODE_FAILED',
        `value cannot be decoded as ${TOPICS[key].schema}: ${(err as Error).message}`,
        err,
      );
    }
  }
}
