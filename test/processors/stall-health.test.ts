import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { topicName } from '../../platform/topics.ts';
import type { StageRunner } from '../../processors/runtime/runner.ts';
import { retriable } from '../../platform/errors.ts';
import { defineStage, emit, retry, type Outcome } from '../../processors/runtime/stage.ts';
import { collectKeys } from '../support/collector.ts';
import { stageDeps } from '../../processors/runtime/wiring.ts';
import { freePort, startStageProcess } from '../support/process.ts';
import {
  eventually,
  publish,
  publishInOrder,
  sampleOrder,
  sampleSms,
  stageEnv,
  stackEnv,
  testClients,
  testConfig,
  testRunner,
  uniquePrefix,
} from '../support/stack.ts';

/**
 * A stage instance whose records wait while it handles and commits none (a client or a commit
 * stuck for good) fails its /health past STAGE_STALL_LIMIT_MS, so its orchestrator restarts it;
 * one that makes progress, however slowly (each attempt that ends, a retried one too), or has
 * nothing to do, stays healthy; one stalled while its process's Redis is down, or a service of
 * its own (its SMSC's session), is not failed for it.
 */
const settings = { TOPIC_PARTITIONS: '1', STAGE_STALL_LIMIT_MS: '1500', LAG_SAMPLE_INTERVAL_MS: '200' };

function stage(name: string, wait: (order: NotificationOrder) => Promise<void | Outcome>) {
  return defineStage({
    name,
    input: 'orders',
    outputs: ['ordersDue'],
    async handle(order: NotificationOrder, ctx) {
      return (await wait(order)) ?? emit({ topic: 'ordersDue', key: ctx.key ?? '', value: order });
    },
  });
}

/** `pred` of the runner's health, looked at every 50 ms until it holds */
async function healthUntil(runner: StageRunner, pred: (h: ReturnType<StageRunner['health']>) => boolean, what: string) {
  const until = Date.now() + 30_000;
  while (!pred(runner.health())) {
    if (Date.now() > until) throw new Error(`health never ${what}: ${JSON.stringify(runner.health())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `stage` run over `orders` published on one key (one partition, in order): `during` is given
 * the runner once they are published, and all must come out before it closes.
 */
async function running(
  name: string,
  make: (runner: () => StageRunner) => ReturnType<typeof stage>,
  orders: NotificationOrder[],
  during: (runner: StageRunner, registry: ReturnType<typeof createRegistry>) => Promise<void>,
  cleanup: () => void = () => undefined,
  extra: Record<string, string> = {},
) {
  const prefix = uniquePrefix(name);
  const config = testConfig(prefix, { ...settings, ...extra });
  const { kafka, codec, logger } = testClients(config);
  await provision(kafka, codec, config);
  const out = await collectKeys(kafka, `${prefix}out`, topicName(prefix, 'ordersDue'));
  const registry = createRegistry(false);
  let runner: StageRunner | null = null;
  runner = testRunner(
    make(() => runner!),
    { kafka, codec, logger, config },
    registry,
  );
  try {
    await runner.start();
    await runner.joined();
    // idle: nothing waits, however long
    expect(runner.health().ok).toBe(true);
    await publishInOrder(kafka, codec, prefix, orders);
    await during(runner, registry);
    await out.waitFor(() => out.total >= orders.length, 60_000, `${orders.length} records out`);
  } finally {
    cleanup();
    await runner.close();
    await out.stop();
    await kafka.close();
  }
}

describe("a stage process's Redis, as its health sees it", () => {
  it('is down while a connection it made is not connected, and not before it made one', async () => {
    const deps = (REDIS_URL: string) => {
      const config = testConfig(uniquePrefix('redis-down'), { REDIS_URL });
      return stageDeps({ ...testClients(config), config, registry: createRegistry(false) });
    };
    const away = deps(`redis://127.0.0.1:${await freePort()}`);
    const up = deps(stackEnv().REDIS_URL);
    try {
      expect(away.redisDown()).toBe(false);
      away.redis();
      expect(away.redisDown()).toBe(true);
      await up.redis().ping();
      expect(up.redisDown()).toBe(false);
      // one connection of its own use away is enough
      up.redis('replica-wait').disconnect();
      expect(up.redisDown()).toBe(true);
    } finally {
      away.closeRedis();
      up.closeRedis();
    }
  });
});

describe('a stage instance that makes no progress', () => {
  it('fails its health while records wait and it handles none, and is healthy again once it moves', async () => {
    let release = () => undefined as void;
    const stuck = new Promise<void>((r) => (release = r));
    const orders = Array.from({ length: 5 }, (_, i) => sampleOrder(i, i === 0 ? { sendersReference: 'stuck' } : {}));
    await running(
      'stall-stuck',
      () => stage('stuck', (order) => (order.sendersReference === 'stuck' ? stuck : Promise.resolve())),
      orders,
      async (runner, registry) => {
        await healthUntil(runner, (h) => !h.ok, 'failed');
        expect(runner.health().error).toMatch(/^[1-5] records waiting and none handled or committed for \d+ s$/);
        // the same stall while the process knows a dependency is down (its Redis away): shown,
        // not failed, since a restart would mend nothing
        expect(runner.health('redis')).toMatchObject({ ok: true, waitingOn: 'redis', error: runner.health().error });
        expect(await registry.getSingleMetricAsString('pipeline_stage_stalled_seconds')).toMatch(
          /pipeline_stage_stalled_seconds\{stage="stuck"\} (1\.[5-9]|[2-9])/,
        );
        release();
        await healthUntil(runner, (h) => h.ok, 'healthy again');
        expect(runner.health().error).toBeUndefined();
      },
      () => release(),
    );
  });

  it('stays healthy while it keeps retrying a record a dependency fails, and fails once an attempt never ends', async () => {
    // an outage of what the record needs (an SMTP server, a registry, a condition endpoint): each
    // attempt that ends counts as progress, since the stage keeps trying and a restart would
    // mend nothing; an attempt that never ends is what a restart is for
    let mode: 'retry' | 'hang' | 'pass' = 'retry';
    let release = () => undefined as void;
    const hung = new Promise<void>((r) => (release = r));
    let retried = 0;
    const orders = Array.from({ length: 5 }, (_, i) => sampleOrder(i, i === 0 ? { sendersReference: 'outage' } : {}));
    await running(
      'stall-retry',
      (runner) =>
        stage('retrying', async (order) => {
          if (order.sendersReference !== 'outage' || mode === 'pass') return;
          if (mode === 'hang') return hung;
          retried++;
          expect(runner().health()).toMatchObject({ ok: true });
          expect(runner().health().error).toBeUndefined();
          return retry(retriable('DEPENDENCY_UNAVAILABLE', 'the server does not answer'));
        }),
      orders,
      async (runner) => {
        // retried for three times the limit, healthy at every attempt
        const until = Date.now() + 3 * Number(settings.STAGE_STALL_LIMIT_MS);
        await healthUntil(runner, () => Date.now() > until, 'past three limits');
        expect(retried).toBeGreaterThan(10);
        expect(runner.health()).toMatchObject({ ok: true });
        mode = 'hang';
        await healthUntil(runner, (h) => !h.ok, 'failed');
        expect(runner.health().error).toMatch(/^[1-5] records waiting and none handled or committed for \d+ s$/);
        mode = 'pass';
        release();
        await healthUntil(runner, (h) => h.ok && h.error === undefined, 'healthy again');
      },
      () => release(),
      { RETRY_INITIAL_MS: '50', RETRY_MAX_MS: '200' },
    );
  });

  it('stays healthy while it makes progress slower than the limit per batch', async () => {
    const seen: boolean[] = [];
    // each record takes 400 ms: 20 of them, one batch, 8 s with nothing committed
    const orders = Array.from({ length: 20 }, (_, i) => sampleOrder(i));
    await running(
      'stall-slow',
      (runner) =>
        stage('slow', async () => {
          seen.push(runner().health().ok);
          await new Promise((r) => setTimeout(r, 400));
        }),
      orders,
      async () => undefined,
    );
    expect(seen.length).toBeGreaterThanOrEqual(orders.length);
    expect(seen.every((ok) => ok)).toBe(true);
  });
});

/**
 * The stage process's two health answers: /health, its readiness, fails while a service of its
 * own is down (a sender's SMSC not bound); /health/live, its liveness, does not, and a stage
 * stalled by that outage is not failed there either: Kubernetes' liveness probe would restart
 * the sender over and over through an SMSC outage, mending nothing.
 */
describe('a send-sms process whose SMSC does not answer', () => {
  it('is not ready, and alive while its SMS waits for the SMSC', async () => {
    const prefix = uniquePrefix('smsc-away');
    const config = testConfig(prefix, settings);
    const { kafka, codec } = testClients(config);
    const opsPort = await freePort();
    await provision(kafka, codec, config);
    const proc = startStageProcess(['send-sms'], {
      ...stageEnv(config),
      ...settings,
      STAGE_HTTP_PORT: String(opsPort),
      SMSC_HOST: '127.0.0.1',
      SMSC_PORT: String(await freePort()),
      SMPP_SYSTEM_ID: 'away',
      SMPP_PASSWORD: 'secret',
    });
    try {
      await proc.running;
      const sms = sampleSms('waits for its SMSC');
      await publish(kafka, codec, prefix, 'smsQueue', [{ key: sms.notificationId, value: sms }]);
      const read = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${opsPort}${path}`);
        return { status: res.status, body: (await res.json()) as { stages: { stage: string; error?: string }[] } };
      };
      // the process's health is another process's answer: polled, there is no event to await
      await eventually(
        async () => (await read('/health')).body.stages.some((st) => st.stage === 'send-sms' && st.error),
        'send-sms stalled',
        30_000,
      );
      const ready = await read('/health');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ ok: false, services: [{ name: 'smpp-session', ok: false }] });
      const live = await read('/health/live');
      expect(live.status).toBe(200);
      expect(live.body.stages).toContainEqual(
        expect.objectContaining({
          stage: 'send-sms',
          ok: true,
          waitingOn: 'smpp-session',
          error: expect.stringMatching(/^1 records waiting and none handled or committed for \d+ s$/),
        }),
      );
    } finally {
      proc.child.kill('SIGKILL');
      await proc.exited;
      await kafka.close();
    }
  });
});
