/**
 * One stage process: the stages named on the command line (or STAGES=a,b) from `catalog`, run
 * side by side, with health and metrics on STAGE_HTTP_PORT. Provisions topics and registers
 * schemas first (idempotent, safe when several instances start at once; tried again for as long
 * as Kafka or the registry does not answer, the ops server up meanwhile). SIGTERM/SIGINT drain
 * and exit 0; a stop asked for while still starting exits 0 at once.
 */
import { ConfigError, loadConfig } from '../../platform/config.ts';
import { KafkaAdapter, kafkaConnection } from '../../platform/kafka/adapter.ts';
import { createLogger, drainOnStop, exitOnUnhandled } from '../../platform/logger.ts';
import { createRegistry, createStageMetrics, kafkaRequestMetrics } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import { settledWithin, startupSteps } from '../../platform/retry.ts';
import { AvroCodec } from '../../platform/schemas/codec.ts';
import { startOpsServer, type Health } from './http.ts';
import { laneStage, runnersFor, stageDeps, type StageModule } from './wiring.ts';

export function runStageProcess(catalog: Record<string, StageModule>): void {
  const logger = createLogger({ name: 'stages' });
  exitOnUnhandled(logger);
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
  main(catalog, logger, () => {
    process.off('SIGTERM', onStartTerm);
    process.off('SIGINT', onStartInt);
  }).catch((err: unknown) => {
    logger.fatal({ err }, 'stage process failed');
    process.exit(1);
  });
}

async function main(
  STAGES: Record<string, StageModule>,
  logger: ReturnType<typeof createLogger>,
  started: () => void,
): Promise<void> {
  const config = loadConfig();
  const args = process.argv.slice(2);
  const names = args.length > 0 ? args : (process.env.STAGES ?? '').split(',').filter(Boolean);
  if (names.length === 0) throw new Error(`name at least one stage: ${Object.keys(STAGES).join(', ')}`);
  const unknown = names.filter((n) => !STAGES[n]);
  if (unknown.length > 0)
    throw new Error(`unknown stage(s) ${unknown.join(', ')}; known: ${Object.keys(STAGES).join(', ')}`);

  const registry = createRegistry();
  const kafka = new KafkaAdapter({
    ...kafkaConnection(config),
    clientId: config.KAFKA_CLIENT_ID,
    logger,
    onRequest: kafkaRequestMetrics(registry),
  });
  const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, config.TOPIC_PREFIX);

  // The ops server first: while the process starts (Kafka or the schema registry may be away: a
  // broker restart, a rolling upgrade, an outage), it says so, not ready, alive while its tries
  // keep ending (startupSteps); a configuration the cluster cannot hold ends it.
  const startup = startupSteps(logger, (err) => err instanceof ConfigError);
  const whileStarting = startup.health(config.STAGE_STALL_LIMIT_MS);
  let health: { ready: Health; live: Health } | null = null;
  const ops = await startOpsServer(config.STAGE_HTTP_PORT, config.STAGE_HTTP_HOST, registry, {
    ready: () => (health ?? whileStarting).ready(),
    live: () => (health ?? whileStarting).live(),
  });
  const starting = startup.step;
  await starting('provisioning topics and schemas', () => provision(kafka, codec, config));

  const metrics = createStageMetrics(registry);
  const deps = stageDeps({ config, kafka, codec, logger, registry });
  const bundles = names.map((n) => STAGES[n]!.build(deps));
  // Two stages of one consumer group (prepare-notifications takes over enrich-recipients', and
  // runs evaluate-condition and resolve-channel as its lanes) would share the process's
  // transactional ids and fence each other for ever: one of them, not both.
  const groups = new Map<string, string>();
  const named = bundles.flatMap((b) => [
    { stage: b.stage, label: b.stage.name },
    ...(b.lanes ?? []).map(laneStage).map((l) => ({ stage: l, label: `${l.name} (a lane of ${b.stage.name})` })),
  ]);
  for (const { stage, label } of named) {
    const group = stage.group ?? stage.name;
    const other = groups.get(group);
    if (other)
      throw new ConfigError(`stages ${other} and ${label} read in the same consumer group (${group}): run one of them`);
    groups.set(group, label);
  }
  const runners = bundles.flatMap((b) => runnersFor(b, { kafka, codec, config, logger, metrics }));
  const services = bundles.flatMap((b) => b.services);
  // /health, the readiness: every stage and every service (an SMPP session, a releaser) healthy.
  // /health/live, the liveness: every stage, a stall waiting on a dependency excused
  // (StageRunner.health): the process's Redis not connected, or a service of its own down (a
  // sender's SMSC not bound), and a crashed consumer the runner is still replacing (Kafka), since
  // a restart would mend none of them.
  const healthOf = (live: boolean) => {
    const others = services.map((s) => s.health());
    const down = others.find((h) => !h.ok);
    const waitingOn = deps.redisDown() ? 'redis' : down ? String(down.name ?? down.component) : undefined;
    return { stages: runners.map((r) => r.health(waitingOn, live)), services: others };
  };
  const running: { ready: Health; live: Health } = {
    ready: () => {
      const { stages, services: others } = healthOf(false);
      return { ok: stages.every((s) => s.ok) && others.every((s) => s.ok), stages, services: others };
    },
    live: () => {
      const { stages } = healthOf(true);
      return { ok: stages.every((s) => s.ok), stages };
    },
  };

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'draining');
    // A handler that never returns (a server that stopped answering) must not keep the process
    // alive for ever: drainOnStop ends it at SHUTDOWN_TIMEOUT_MS, or at a second signal; the send
    // ledger makes an exit mid-hand-over safe (reported, never repeated).
    // Stages first (they may be handing records to a service's client, e.g. the SMTP pool),
    // then the services. Each part has its share of the time: the stages three quarters (they
    // give up what Kafka does not answer in it, safely, see StageRunner.close), the rest after.
    const until = Date.now() + config.SHUTDOWN_TIMEOUT_MS * 0.9;
    await Promise.all(runners.map((r) => r.close(config.SHUTDOWN_TIMEOUT_MS * 0.75)));
    // the stages are drained by now: a service that fails to close (a client whose connection
    // is already gone) is logged, and the drain goes on rather than ending as a crash
    const servicesClosed = Promise.allSettled(services.map((s) => s.close())).then((all) => {
      for (const closed of all)
        if (closed.status === 'rejected')
          logger.warn({ err: closed.reason as Error }, 'a service did not close cleanly');
    });
    if (!(await settledWithin(servicesClosed, until - Date.now())))
      logger.warn('services did not close in time; exiting');
    else if (!(await settledWithin(kafka.close(), until - Date.now())))
      logger.warn('the Kafka clients did not close in time; exiting');
    deps.closeRedis();
    ops.server.close();
    logger.info('drained; exiting');
    process.exit(0);
  };
  started();
  drainOnStop(logger, config.SHUTDOWN_TIMEOUT_MS, (signal) => void shutdown(signal));

  for (const r of runners) await starting('starting a stage', () => r.start());
  health = running;
  for (const s of services) s.start();
  await Promise.all(runners.map((r) => r.joined()));
  logger.info({ stages: names, opsHost: config.STAGE_HTTP_HOST, opsPort: ops.port }, 'stages running');
}
