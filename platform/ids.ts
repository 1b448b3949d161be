import { createHash } from 'node:crypto';

const NAMESPACE = Buffer.from('6c1f5a0e9a4b4d7e8f2b1c3d4e5f6a7b', 'hex');

/**
 * A name-based (version 5, SHA-1) UUID: the same name always gives the same id. Ids derived from
 * what they name make a repeat harmless: a retried request or a record handled again produces the
 * very same ids, which the consumers de-duplicate by.
 */
export function nameUuid(name: string, namespace: Buffer = NAMESPACE): string {
  const h = createHash('sha1').update(namespace).update(name).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The id of an order chain, as the gateway derives it from its creator and idempotencyId. */
export function chainIdOf(creator: string, idempotencyId: string): string {
  return nameUuid(`${creator}\n${idempotencyId}`);
}

/** The id of an order chain's main order, as the gateway derives it from the chain's id. */
export function mainOrderId(chainId: string): string {
  return nameUuid(`${chainId}\nmain`);
}
