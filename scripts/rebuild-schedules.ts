/**
 * Rebuilds the Redis schedules (orders waiting for their send time or a condition re-check, SMS
 * waiting for the send window, notifications waiting for their expiry check) from the topics:
 *
 *   ./dev rebuild-schedules      (stops the stages, runs this, starts them again)
 *
 * See processors/rebuild-schedules.ts for what counts as waiting. Reads the stack's environment
 * (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL, TOPIC_PREFIX, REDIS_PREFIX, SMS_WINDOW_*).
 */
import { provision } from '../platform/provision.ts';
import { rebuildSchedules } from '../processors/rebuild-schedules.ts';
import { rebuildClients } from './rebuild-clients.ts';

const { config, kafka, codec, redis, close } = rebuildClients();
// the topics may not exist yet on a stack no stage has run on (idempotent otherwise)
await provision(kafka, codec, config);
const counts = await rebuildSchedules({
  kafka,
  codec,
  redis,
  config,
  window: {
    zone: config.SMS_WINDOW_ZONE,
    startHour: config.SMS_WINDOW_START_HOUR,
    endHour: config.SMS_WINDOW_END_HOUR,
  },
  clock: Date.now,
});
for (const [name, c] of Object.entries(counts))
  console.log(`${name.padEnd(14)} ${c.waiting} put back to wait, ${c.settled} marked released or cancelled`);
await close();
