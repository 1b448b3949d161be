/**
 * Runs pipeline stages in this process: `node --import tsx processors/main.ts scheduler [more…]`
 * (or STAGES=a,b). One process per stage scales by partitions; all in one suits one machine.
 * Provisions topics and registers schemas first (idempotent). SIGTERM/SIGINT drain and exit 0.
 */
import { loadConfig } from '../platform/config.ts';
import { KafkaAdapter } from '../platform/kafka/adapter.ts';
import { createLogger } from '../platform/logger.ts';
import { createRegistry, createStageMetrics } from '../platform/metrics.ts';
import { provision } from '../platform/provision.ts';
import { AvroCodec } from '../platform/schemas/codec.ts';
import { startOpsServer } from './runtime/http.ts';
import { STAGES } from './stages.ts';
import { runnerFor, stageDeps } from './runtime/wiring.ts';

const logger = createLogger({ name: 'stages' });

// A stop asked for while the process is still starting (a rolling restart, a scale-down):
// nothing is handled yet, so there is nothing to drain; exit cleanly. Replaced by the draining
// shutdown once the stages exist.
const stopWhileStarting = (signal: string) => {
  logger.info({ signal }, 'stopped while starting; exiting');
  process.exit(0);
};
const onStartTerm = () => stopWhileStarting('SIGTERM');
const onStartInt = () => stopWhileStarting('SIGINT');
process.on('SIGTERM', onStartTerm);
process.on('SIGINT', onStartInt);

async function main(): Promise<void> {
  const config = loadConfig();
  const args = process.argv.slice(2);
  const names = args.length > 0 ? args : (process.env.STAGES ?? '').split(',').filter(Boolean);
  if (names.length === 0) throw new Error(`name at least one stage: ${Object.keys(STAGES).join(', ')}`);
  const unknown = names.filter((n) => !STAGES[n]);
  if (unknown.length > 0)
    throw new Error(`unknown stage(s) ${unknown.join(', ')}; known: ${Object.keys(STAGES).join(', ')}`);

  const kafka = new KafkaAdapter({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID, logger });
  const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, config.TOPIC_PREFIX);
  await provision(kafka, codec, config);

  const registry = createRegistry();
  const metrics = createStageMetrics(registry);
  const deps = stageDeps({ config, kafka, codec, logger, registry });
  const bundles = names.map((n) => STAGES[n]!.build(deps));
  const runners = bundles.map((b) => runnerFor(b, { kafka, codec, config, logger, metrics }));
  const services = bundles.flatMap((b) => b.services);
  const ops = await startOpsServer(config.STAGE_HTTP_PORT, registry, () => {
    const stages = runners.map((r) => r.health());
    const others = services.map((s) => s.health());
    return { ok: stages.every((s) => s.ok) && others.every((s) => s.ok), stages, services: others };
  });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'draining');
    // A handler that never returns (a server that stopped answering) must not keep the process
    // alive for ever; the send ledger makes an exit mid-hand-over safe (reported, never repeated).
    setTimeout(() => {
      logger.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'drain did not finish in time; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS).unref();
    // Stages first (they may be handing records to a service's client, e.g. the SMTP pool),
    // then the services.
    await Promise.all(runners.map((r) => r.close()));
    await Promise.all(services.map((s) => s.close()));
    await kafka.close();
    deps.closeRedis();
    ops.server.close();
    logger.info('drained; exiting');
    process.exit(0);
  };
  process.off('SIGTERM', onStartTerm);
  process.off('SIGINT', onStartInt);
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  for (const r of runners) await r.start();
  for (const s of services) s.start();
  await Promise.all(runners.map((r) => r.joined()));
  logger.info({ stages: names, opsPort: ops.port }, 'stages running');
}

main().catch((err: unknown) => {
  logger.fatal({ err }, 'stage process failed');
  process.exit(1);
});
