import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { createRedis, logConnectionErrors, type Redis } from '../../platform/redis/client.ts';
import { freePort } from '../support/process.ts';

/** a logger whose lines are kept, parsed */
function keptLogger() {
  const lines: { level: number; msg: string; err?: string; since?: number; unlogged?: number }[] = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

/**
 * ioredis emits an error at each failed reconnect and, with no listener, prints each to stderr as
 * plain text ("[ioredis] Unhandled error event"): eight lines from every process at each Redis
 * restart of the chaos test, outside the JSON logs.
 */
describe('a Redis connection’s errors', () => {
  afterEach(() => void vi.useRealTimers());

  it('are logged as JSON, the first of an outage at once, not printed by ioredis', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const { logger, lines } = keptLogger();
    const redis = createRedis({ url: `redis://127.0.0.1:${await freePort()}` }, logger);
    try {
      let errors = 0;
      await new Promise<void>((resolve) => redis.on('error', () => void (++errors === 3 && resolve())));
      expect(lines.map((l) => [l.level, l.msg])).toEqual([[40, 'Redis connection error']]);
      expect(lines[0]!.err).toMatch(/ECONNREFUSED/);
      expect(printed.mock.calls.filter((c) => String(c[0]).includes('ioredis'))).toEqual([]);
    } finally {
      redis.disconnect();
      printed.mockRestore();
    }
  });

  it('are logged once every 30 s while it lasts, with how many came between, and its return once', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { logger, lines } = keptLogger();
    const connection = new EventEmitter();
    logConnectionErrors(connection as unknown as Redis, logger);
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    for (let i = 0; i < 15; i++) {
      connection.emit('error', refused);
      vi.advanceTimersByTime(2_000);
    }
    // at 0 s, and at 30 s with the 14 between
    connection.emit('error', refused);
    connection.emit('ready');
    connection.emit('ready');
    expect(lines.map((l) => [l.msg, l.since ?? l.unlogged ?? null])).toEqual([
      ['Redis connection error', null],
      ['Redis connection error', 14],
      ['Redis connection ready again', 0],
    ]);
    // a new outage is logged at once
    connection.emit('error', refused);
    expect(lines).toHaveLength(4);
  });
});
