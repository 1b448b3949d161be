import { Redis } from 'ioredis';

/** A Redis connection for the pipeline's stores (the only place the project creates one). */
export function createRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, lazyConnect: false });
}

export type { Redis };
