/**
 * The support dashboard's index (`./dev bench --suite dashboard [--items N]`): N notifications'
 * New events, each for a person (half of them to persons with two), applied to the status view
 * as status-view applies them (`ViewStore.applyAll`, batches of 500), which writes each one's
 * index entry; then what the index weighs in Redis per entry (`MEMORY USAGE` of every bucket,
 * beside the entries' count and how full the buckets are), what its writes cost against the same
 * events with no recipient number (the index's share of status-view's Redis work), and how long
 * a lookup's index read takes. Printed, never asserted.
 */
import { createRedis, redisConnection, type Redis } from '../platform/redis/client.ts';
import type { StatusEvent } from '../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../platform/status.ts';
import { ViewStore } from '../platform/view/store.ts';
import { nameUuid } from '../platform/ids.ts';
import { benchClients, benchLogger, dropRun } from './support.ts';

const BATCH = 500;

/** Redis' own CPU seconds so far (`INFO cpu`: used_cpu_sys + used_cpu_user) */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const v = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return v('used_cpu_sys') + v('used_cpu_user');
}

export async function dashboardBench(N: number): Promise<void> {
  const { prefix, config, kafka } = await benchClients('dashboard');
  const redis = createRedis(redisConnection(config), benchLogger);
  try {
    const now = Date.now();
    const nin = (i: number) => String(10_000_000_000 + (i >> 1)).padStart(11, '0');
    const event = (i: number, withNumber: boolean): StatusEvent => ({
      ...orderStatus({ orderId: nameUuid(`bench order ${i}`), creator: 'ttd' }, 'Email_New', now),
      notificationId: nameUuid(`bench notification ${i}`),
      channel: 'Email',
      destination: `p${i}@example.com`,
      expiresAt: now + 48 * 3600_000,
      recipientNationalIdentityNumber: withNumber ? nin(i) : null,
      requestedSendTime: now - (i % 86_400) * 1000,
    });
    const apply = async (view: ViewStore, withNumber: boolean) => {
      const wall = process.hrtime.bigint();
      const cpu = await redisCpu(redis);
      for (let i = 0; i < N; i += BATCH) {
        const events = Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => ({
          event: event(i + k, withNumber),
          source: '',
        }));
        await view.applyAll(events, now);
      }
      return {
        wallUs: Number(process.hrtime.bigint() - wall) / 1000 / N,
        redisUs: (((await redisCpu(redis)) - cpu) * 1e6) / N,
      };
    };
    // the same events with no number first (no index), then with (the index written too)
    const plain = await apply(new ViewStore(redis, `${prefix}plain:`), false);
    const view = new ViewStore(redis, `${prefix}indexed:`);
    const indexed = await apply(view, true);

    let buckets = 0;
    let entries = 0;
    let bytes = 0;
    for await (const keys of redis.scanStream({ match: `${prefix}indexed:view:dash:*`, count: 1000 }) as AsyncIterable<
      string[]
    >) {
      for (const key of keys) {
        buckets++;
        entries += await redis.zcard(key);
        bytes += Number(await redis.memory('USAGE', key));
      }
    }
    // lookups: 200 indexed persons, each with two notifications (their orders are not in this
    // view, so a lookup reads the index and finds nothing to show: the index read alone)
    const lookups = 200;
    const started = process.hrtime.bigint();
    for (let k = 0; k < lookups; k++)
      await view.dashboard('nin', nin(Math.floor((k * N) / lookups)), now - 7 * 24 * 3600_000, now + 1);
    const lookupMs = Number(process.hrtime.bigint() - started) / 1e6 / lookups;

    console.log(
      `${N} notifications to ${Math.ceil(N / 2)} persons, in ${buckets} buckets (${(entries / buckets).toFixed(1)} entries each on average)`,
    );
    console.log(
      `index in Redis: ${(bytes / entries).toFixed(1)} bytes per entry (MEMORY USAGE of every bucket: ${(bytes / 1024 / 1024).toFixed(1)} MiB for ${entries} entries)`,
    );
    console.log(
      `status-view's apply per event: ${plain.wallUs.toFixed(1)} µs wall and ${plain.redisUs.toFixed(1)} µs of Redis' CPU without the index, ` +
        `${indexed.wallUs.toFixed(1)} and ${indexed.redisUs.toFixed(1)} with it (ratio ${(indexed.redisUs / plain.redisUs).toFixed(2)} in Redis' CPU)`,
    );
    console.log(`a lookup's index read: ${lookupMs.toFixed(2)} ms (mean of ${lookups})`);
  } finally {
    redis.disconnect();
    await kafka.close();
    await dropRun(prefix);
  }
}
