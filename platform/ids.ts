import { hash } from 'node:crypto';

const NAMESPACE = Buffer.from('6c1f5a0e9a4b4d7e8f2b1c3d4e5f6a7b', 'hex');
/** the RFC 4122 variant (10xx) of a hex digit's value: its two low bits under 8 */
const VARIANT = '89ab89ab89ab89ab';

/**
 * A name-based (version 5, SHA-1) UUID: the same name always gives the same id. Ids derived from
 * what they name make a repeat harmless: a retried request or a record handled again produces the
 * very same ids, which the consumers de-duplicate by. (One-shot `hash` on the namespace and the
 * name's UTF-8, the digest in hex with the version and variant set in it: a third of the time of
 * a Hash object per id, and the chain derives a few ids per order.)
 */
export function nameUuid(name: string, namespace: Buffer = NAMESPACE): string {
  const x = hash('sha1', Buffer.concat([namespace, Buffer.from(name, 'utf8')]), 'hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-5${x.slice(13, 16)}-${VARIANT[parseInt(x[16]!, 16)]}${x.slice(17, 20)}-${x.slice(20, 32)}`;
}

/** The id of an order chain, as the gateway derives it from its creator and idempotencyId. */
export function chainIdOf(creator: string, idempotencyId: string): string {
  return nameUuid(`${creator}\n${idempotencyId}`);
}

/** The id of an order chain's main order, as the gateway derives it from the chain's id. */
export function mainOrderId(chainId: string): string {
  return nameUuid(`${chainId}\nmain`);
}
