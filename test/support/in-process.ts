import type { AvroCodec } from '../../platform/schemas/codec.ts';
import { createRegistry, createStageMetrics } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { topicName, type TopicKey } from '../../platform/topics.ts';
import { StageRunner } from '../../processors/runtime/runner.ts';
import { Deferrals, heldValues } from '../../processors/runtime/deferral.ts';
import type { Stage } from '../../processors/runtime/stage.ts';
import { Releaser, type ReleaserOptions } from '../../processors/runtime/releaser.ts';
import type { Config } from '../../platform/config.ts';
import type { KafkaAdapter } from '../../platform/kafka/adapter.ts';
import { collectKeys } from './collector.ts';
import { testClients, testConfig, uniquePrefix, testRedis } from './stack.ts';

/**
 * A stage that holds records in a schedule store, with the store's releaser, running in this
 * process against the real stack under a prefix of its own (one partition unless overridden).
 * A deferring stage gets its store, releaser and deferrals as its `defer` declares them; another
 * (status-view) gets the store named by `keyPrefix`, `name` and `output`.
 */
export function stageWithReleaser(options: {
  label: string;
  overrides?: Record<string, string>;
  keyPrefix?: string;
  name?: string;
  output?: TopicKey;
  keyOf?: (value: never, id: string) => string;
  clock?: () => number;
  /** the releaser's passLeaseMs (default 45 s) */
  passLeaseMs?: number;
  /** the store as the stage's deferrals see it (e.g. one that loses writes) */
  deferralStore?: (store: ScheduleStore) => ScheduleStore;
  stage: (ports: { store: ScheduleStore; clock: () => number; prefix: string; codec: AvroCodec }) => Stage;
  /** the releaser's gates of the store's gated lanes */
  gates?: (deps: { kafka: KafkaAdapter; config: Config }) => ReleaserOptions['gates'];
}) {
  const prefix = uniquePrefix(options.label);
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '1', ...options.overrides });
  const { kafka, codec, logger } = testClients(config);
  const redis = testRedis();
  const registry = createRegistry(false);
  const clock = options.clock ?? Date.now;
  const own = options.keyPrefix ? new ScheduleStore(redis, `${prefix}${options.keyPrefix}`) : null;
  const stage = options.stage({
    store: own ?? new ScheduleStore(redis, `${prefix}unused:`),
    clock,
    prefix,
    codec,
  });
  const spec = stage.defer;
  const store = spec ? new ScheduleStore(redis, `${prefix}${spec.keyPrefix}`) : own!;
  const releaser = new Releaser(
    { store, kafka, codec, topicPrefix: prefix, clientId: 'test', logger, registry, clock },
    {
      name: spec?.name ?? options.name!,
      output: spec?.output ?? options.output!,
      ...(spec?.keyOf ? { keyOf: spec.keyOf } : {}),
      ...(spec?.alsoEmit ? { alsoEmit: spec.alsoEmit } : {}),
      ...(options.keyOf ? { keyOf: options.keyOf as (value: unknown, id: string) => string } : {}),
      leaseMs: 5_000,
      batchSize: 100,
      lanes: 3,
      pollMs: 50,
      leaderTtlMs: 3_000,
      passLeaseMs: options.passLeaseMs ?? 45_000,
      ...(options.gates ? { gates: options.gates({ kafka, config }) } : {}),
    },
  );
  const deferrals = spec
    ? new Deferrals(options.deferralStore?.(store) ?? store, spec, heldValues(codec, spec.output), clock, () =>
        releaser.wake(),
      )
    : undefined;
  const runner = new StageRunner(stage, {
    kafka,
    codec,
    config,
    logger,
    metrics: createStageMetrics(registry),
    ...(deferrals ? { deferrals } : {}),
  });
  const collecting = new Map<TopicKey, Awaited<ReturnType<typeof collectKeys>> | null>();
  return {
    prefix,
    config,
    kafka,
    codec,
    store,
    releaser,
    /**
     * The keys that arrive on `topic`, collected from before the stage starts until `stop`; call
     * before `start`, read the result inside tests.
     */
    collecting(topic: TopicKey) {
      collecting.set(topic, null);
      return () => {
        const collector = collecting.get(topic);
        if (!collector) throw new Error(`not collecting ${topic}: the harness has not started`);
        return collector;
      };
    },
    /** provisions, runs `beforeStart` (e.g. to attach collectors), then starts stage and releaser */
    async start(beforeStart?: () => Promise<void>) {
      await provision(kafka, codec, config);
      for (const topic of collecting.keys()) {
        collecting.set(topic, await collectKeys(kafka, `${prefix}collect-${topic}`, topicName(prefix, topic)));
      }
      await beforeStart?.();
      await runner.start();
      releaser.start();
      await runner.joined();
    },
    async stop() {
      await releaser.close();
      await runner.close();
      for (const collector of collecting.values()) await collector?.stop();
      await kafka.close();
      redis.disconnect();
    },
  };
}
