/**
 * Rebuilds the status view (the read model behind the API) from the topics:
 *
 *   ./dev rebuild-views      (stops the stages, runs this, starts them again)
 *
 * See processors/rebuild-views.ts for what it reads and what it leaves. Reads the stack's
 * environment (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL, TOPIC_PREFIX, REDIS_PREFIX).
 */
import { rebuildViews } from '../processors/rebuild-views.ts';
import { rebuildClients } from './rebuild-clients.ts';

const { config, kafka, codec, redis, close } = rebuildClients();
try {
  const c = await rebuildViews({ kafka, codec, redis, config });
  console.log(
    `view rebuilt: ${c.removed} keys removed, ${c.orders} orders and ${c.events} status events applied` +
      `; skipped, as their stages skipped them: ${c.skipped.orders} order and ${c.skipped.status} status records`,
  );
} finally {
  await close();
}
