import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { SharedAccountLimit } from '../../platform/redis/account-limits.ts';
import { SmppClient, type Receipt } from '../../platform/smpp/client.ts';
import { eventually, stackEnv, testRedis, uniquePrefix } from '../support/stack.ts';

/**
 * A delivery receipt that cannot be recorded (Redis away, its replicas short) is left
 * unacknowledged, and the SMSC sends it again: during a fault every receipt of the SMSC's
 * stream fails, again and again (127 warn lines in one chaos run). They are logged as a run: the
 * first at once, then one every 30 s with how many came between, and one line when receipts are
 * recorded again. Through the SMSC simulator, which sends an unanswered receipt again.
 */
describe('receipts not recorded', () => {
  const env = stackEnv();
  const redis = testRedis();
  const prefix = uniquePrefix('receipt-log');
  const lines: { level: number; msg: string; since?: number; unlogged?: number; err?: { message: string } }[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
  const recorded: Receipt[] = [];
  let refusals = 3;
  const client = new SmppClient(
    {
      host: env.SMSC_HOST,
      port: Number(env.SMSC_PORT),
      systemId: `rl-${randomUUID().slice(0, 8)}`,
      password: 'secret',
      limit: new SharedAccountLimit(redis, `${prefix}limits:`, { perSecond: 100, window: 5, leaseMs: 10_000 }),
      enquireLinkMs: 5_000,
      responseTimeoutMs: 3_000,
    },
    async (r) => {
      if (refusals-- > 0) throw new Error('Redis is away');
      recorded.push(r);
    },
    logger,
  );
  afterAll(async () => {
    await client.close();
    redis.disconnect();
  });

  it('are logged as a run, not a line each, and their end once', async () => {
    client.start();
    const submitted = await client.submit({
      source_addr: 'Altinn',
      source_addr_ton: 5,
      source_addr_npi: 0,
      destination_addr: '4790000001',
      dest_addr_ton: 1,
      dest_addr_npi: 1,
      registered_delivery: 1,
      short_message: 'a receipt refused three times',
    });
    expect(submitted.kind).toBe('accepted');
    // sent again each time it is left unacknowledged, recorded at the fourth
    await eventually(async () => recorded.length === 1, 'the receipt recorded', 60_000);
    expect(refusals).toBe(-1);
    const receiptLines = lines
      .filter((l) => /receipt/.test(l.msg))
      .map((l) => [l.level, l.msg, l.since ?? l.unlogged ?? null, l.err?.message ?? null]);
    expect(receiptLines).toEqual([
      [40, 'receipt not recorded; left unacknowledged', null, 'Redis is away'],
      [30, 'receipts recorded again', 2, null],
    ]);
  });
});
