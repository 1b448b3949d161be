import { PipelineError } from '../platform/errors.ts';
import type { AvroCodec } from '../platform/schemas/codec.ts';
import type { TopicKey, TopicValues } from '../platform/topics.ts';

/**
 * A topic record's value as its stage read it, for the rebuilds; `undefined` for one that can
 * never be decoded (no value, not the wire format, an unknown or incompatible writer schema):
 * its stage dead-lettered it, so it never counted. A failure that may pass (the schema registry
 * unreachable) is thrown: a rebuild stops rather than leave out a record it could have read.
 */
export async function decodedAsStaged<K extends TopicKey>(
  codec: AvroCodec,
  key: K,
  bytes: Buffer | null,
): Promise<TopicValues[K] | undefined> {
  try {
    return await codec.decode(key, bytes);
  } catch (err) {
    if (err instanceof PipelineError && !err.retriable) return undefined;
    throw err;
  }
}
