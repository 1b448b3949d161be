import type { Registry } from 'prom-client';
import type { Config } from '../../platform/config.ts';
import type { KafkaAdapter } from '../../platform/kafka/adapter.ts';
import type { Logger } from '../../platform/logger.ts';
import { recordLifetimeMs } from '../../platform/provision.ts';
import type { TopicKey } from '../../platform/topics.ts';
import { notificationMetrics, replicaWaitMetrics } from '../../platform/metrics.ts';
import { createRedis, redisConnection, type Redis } from '../../platform/redis/client.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { checkReplicas, ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { SendLedger } from '../../platform/redis/send-ledger.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import { ViewStore } from '../../platform/view/store.ts';
import { Deferrals, heldValues } from './deferral.ts';
import { Releaser, type ReleaserOptions } from './releaser.ts';
import { StageRunner } from './runner.ts';
import type { Stage } from './stage.ts';

/** A long-lived part that runs beside a stage in its process (e.g. a releaser, an SMPP session). */
export interface Service {
  start(): void;
  close(): Promise<void>;
  health(): { ok: boolean; [k: string]: unknown };
}

/** What a stage's wiring is given: the process's clients and its validated configuration. */
export interface StageDeps {
  config: Config;
  kafka: KafkaAdapter;
  codec: AvroCodec;
  logger: Logger;
  registry: Registry;
  /**
   * the process's Redis connection, or with `use`, a connection of that use's own, for calls
   * that must not wait behind the others or hold them (each created on first use; fails
   * without REDIS_URL)
   */
  redis: (use?: string) => Redis;
  clock: () => number;
}

/** A stage ready to run: the stage, the services beside it, and its deferrals if it defers. */
export interface StageBundle {
  stage: Stage;
  services: Service[];
  deferrals?: Deferrals;
  /**
   * stages that run beside it in the same process, on the same services, each on its own input
   * and in its own consumer group (a sender's instant lane: never behind the stage's backlog;
   * the stages a fused stage holds, for what reaches their own topics)
   */
  lanes?: Lane[];
}

/** A lane of a bundle: a stage, or a stage with its deferrals when it defers. */
export type Lane = Stage | { stage: Stage; deferrals?: Deferrals };

/** The stage of a lane. */
export const laneStage = (lane: Lane): Stage => ('stage' in lane ? lane.stage : lane);

/** A stage folder's wiring (`processors/<stage>/index.ts`). */
export interface StageModule {
  readonly name: string;
  /** the consumer group its stage reads in, when not its name (`Stage.group`; deployments name it) */
  readonly group?: string;
  build(deps: StageDeps): StageBundle;
}

/**
 * A process's stage deps: the real clock and its Redis connections, each made on first use (an
 * error without REDIS_URL), which `closeRedis` ends and `redisDown` tells the state of.
 */
export function stageDeps(
  base: Pick<StageDeps, 'config' | 'kafka' | 'codec' | 'logger' | 'registry'>,
): StageDeps & { closeRedis: () => void; redisDown: () => boolean } {
  const connections = new Map<string, Redis>();
  return {
    ...base,
    /** whether a Redis connection the process made is not connected now (Redis down or away) */
    redisDown: () => [...connections.values()].some((r) => r.status !== 'ready'),
    clock: () => Date.now(),
    redis: (use = '') => {
      let redis = connections.get(use);
      if (redis === undefined) {
        redis = createRedis(redisConnection(base.config, 'the stages named'), base.logger);
        connections.set(use, redis);
      }
      return redis;
    },
    closeRedis: () => {
      for (const redis of connections.values()) redis.disconnect();
    },
  };
}

/** The Redis key prefix of this environment. */
export const redisPrefix = (config: Config) => config.REDIS_PREFIX ?? config.TOPIC_PREFIX;

/** A sender's hand-off, counted and timed from the notification's requested send time. */
export function handOffMetric(deps: Pick<StageDeps, 'registry' | 'clock'>, channel: 'email' | 'sms') {
  const m = notificationMetrics(deps.registry);
  const handedOff = m.handedOff.labels({ channel });
  const latency = m.handOffLatency.labels({ channel });
  return (requestedSendTime: number) => {
    handedOff.inc();
    latency.observe(Math.max(0, deps.clock() - requestedSendTime) / 1000);
  };
}

/**
 * what waits for Redis replicas (REDIS_WAIT_REPLICAS), by its metric label: its connection's
 * name. A sender's claims and its delivery references share one (`send-ledger`): a wait for both
 * costs what one for the claims alone does (`./dev bench --suite email`: 1,154–1,197 emails/s and
 * 4,465 WAITs against 1,097–1,108 and 8,300 with a wait of their own each).
 */
const REPLICA_USES = {
  'send-ledger': 'send ledger',
  schedule: 'schedule store',
  view: 'status view',
} as const;

/** per connection, its waits for replicas: the writes of one use in a process wait together */
const replicaWaits = new WeakMap<Redis, ReplicaWait>();
/** the processes' main connections whose Redis was checked for replicas (once a process) */
const checked = new WeakSet<Redis>();

/**
 * The wait for Redis replicas of `use` in this process, on a connection of the use's own (a
 * WAIT holds its connection), its outcomes counted and Redis's replicas checked once at the
 * start (`checkReplicas`); null while REDIS_WAIT_REPLICAS is 0.
 */
export function replicaWait(
  deps: Pick<StageDeps, 'config' | 'redis' | 'registry' | 'logger'>,
  key: keyof typeof REPLICA_USES,
): ReplicaWait | null {
  const use = REPLICA_USES[key];
  const waits = replicaWaitMetrics(deps.registry).waits;
  for (const outcome of ['held', 'short', 'failed'] as const) waits.labels({ use: key, outcome }).inc(0);
  const n = deps.config.REDIS_WAIT_REPLICAS;
  if (n <= 0) return null;
  const connection = deps.redis(`${use} writes`);
  let wait = replicaWaits.get(connection);
  if (wait === undefined) {
    const main = deps.redis();
    if (!checked.has(main)) {
      checked.add(main);
      void checkReplicas(main, n, deps.logger);
    }
    wait = new ReplicaWait(connection, n, deps.config.REDIS_REPLICA_WAIT_MS, use, (outcome) =>
      waits.labels({ use: key, outcome }).inc(),
    );
    replicaWaits.set(connection, wait);
  }
  return wait;
}

/**
 * A sender's send ledger (one for all its lanes: a replay's wait for a claim depends on whose it
 * is, not which lane's), under `prefix`. With REDIS_WAIT_REPLICAS its claims are written and
 * waited for on a connection of their own (`replicaWait`).
 */
export function senderLedger(deps: StageDeps, prefix: string): SendLedger {
  const replicas = replicaWait(deps, 'send-ledger');
  return new SendLedger(deps.redis(), prefix, deps.config.SEND_LEDGER_TTL_S, undefined, {
    waitMs: deps.config.SEND_CLAIM_WAIT_MS,
    ...(replicas ? { replicas } : {}),
  });
}

/**
 * The read model behind the API, under the environment's Redis prefix, as the stages write it:
 * with REDIS_WAIT_REPLICAS a write resolves once the replicas hold it, so a record is committed
 * only then (a failover cannot lose an order or a status the view was told of).
 */
export function viewStore(deps: Pick<StageDeps, 'config' | 'redis' | 'registry' | 'logger'>): ViewStore {
  const replicas = replicaWait(deps, 'view');
  return new ViewStore(
    deps.redis(),
    redisPrefix(deps.config),
    deps.config.VIEW_RETENTION_S * 1000,
    undefined,
    undefined,
    replicas ?? undefined,
  );
}

/**
 * How long a schedule remembers a release: SCHEDULE_FINAL_RETENTION_S, and no longer than a
 * record can stay on the schedule's input topic (a replay brings back nothing older).
 */
export function scheduleFinalRetentionMs(config: Config, input?: TopicKey): number {
  return Math.min(config.SCHEDULE_FINAL_RETENTION_S * 1000, input ? recordLifetimeMs(config, input) : Infinity);
}

/** A schedule store under its own Redis key prefix, and the releaser that writes what falls due. */
export function scheduled(
  deps: StageDeps,
  o: Pick<ReleaserOptions, 'name' | 'output' | 'keyOf' | 'alsoEmit' | 'gates'> & {
    keyPrefix: string;
    /**
     * the topic whose records the schedule takes in: a release is remembered no longer than a
     * record of it can stay there (a replay brings back nothing older), nor than
     * SCHEDULE_FINAL_RETENTION_S
     */
    input?: TopicKey;
  },
): { store: ScheduleStore; releaser: Releaser } {
  const { config } = deps;
  // with REDIS_WAIT_REPLICAS, what it schedules is in as many replicas before the record's commit
  const replicas = replicaWait(deps, 'schedule');
  const store = new ScheduleStore(deps.redis(), `${redisPrefix(config)}${o.keyPrefix}`, replicas ?? undefined);
  const releaser = new Releaser(
    {
      store,
      kafka: deps.kafka,
      codec: deps.codec,
      topicPrefix: config.TOPIC_PREFIX,
      clientId: config.KAFKA_CLIENT_ID,
      logger: deps.logger,
      registry: deps.registry,
      clock: deps.clock,
    },
    {
      name: o.name,
      output: o.output,
      ...(o.alsoEmit ? { alsoEmit: o.alsoEmit } : {}),
      ...(o.keyOf ? { keyOf: o.keyOf } : {}),
      ...(o.gates ? { gates: o.gates } : {}),
      leaseMs: config.SCHEDULER_LEASE_MS,
      batchSize: config.SCHEDULER_BATCH_SIZE,
      lanes: config.SCHEDULER_RELEASE_LANES,
      pollMs: config.SCHEDULER_POLL_MS,
      leaderTtlMs: config.SCHEDULER_LEADER_TTL_MS,
      passLeaseMs: config.SCHEDULER_PASS_LEASE_MS,
      finalRetentionMs: scheduleFinalRetentionMs(config, o.input),
    },
  );
  return { store, releaser };
}

/**
 * A deferring stage with its schedule store, releaser and deferrals, as its `defer` declares them;
 * `gates` for a stage that defers into gated lanes.
 */
export function deferring(
  deps: StageDeps,
  stage: Stage,
  services: Service[] = [],
  gates?: ReleaserOptions['gates'],
): StageBundle {
  if (!stage.defer) throw new Error(`stage ${stage.name} declares no defer`);
  const { store, releaser } = scheduled(deps, { ...stage.defer, input: stage.input, ...(gates ? { gates } : {}) });
  const deferrals = new Deferrals(store, stage.defer, heldValues(deps.codec, stage.defer.output), deps.clock, () =>
    releaser.wake(),
  );
  return { stage, services: [releaser, ...services], deferrals };
}

/** The runner of a built stage, with its deferrals when it has them. */
export function runnerFor(
  b: StageBundle,
  deps: Omit<ConstructorParameters<typeof StageRunner>[1], 'deferrals'>,
): StageRunner {
  return new StageRunner(b.stage, { ...deps, ...(b.deferrals ? { deferrals: b.deferrals } : {}) });
}

/** The runners of a built stage: its own, then one per lane. */
export function runnersFor(
  b: StageBundle,
  deps: Omit<ConstructorParameters<typeof StageRunner>[1], 'deferrals' | 'lane'>,
): StageRunner[] {
  return [
    runnerFor(b, deps),
    ...(b.lanes ?? []).map(
      (lane) =>
        new StageRunner(laneStage(lane), {
          ...deps,
          lane: true,
          ...('stage' in lane && lane.deferrals ? { deferrals: lane.deferrals } : {}),
        }),
    ),
  ];
}
