import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../platform/provision.ts';
import type { EmailNotification } from '../../platform/schemas/generated/email-notification.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { topicName } from '../../platform/topics.ts';
import { startConditionServer } from '../support/condition-server.ts';
import { startStageProcess, type StageProcess } from '../support/process.ts';
import {
  publish,
  sampleOrder,
  stackEnv,
  stageEnv,
  testClients,
  testConfig,
  uniquePrefix,
  until,
} from '../support/stack.ts';

const FUSED = ['prepare-notifications'];
const APART = ['enrich-recipients', 'evaluate-condition', 'resolve-channel'];

/**
 * The rolling change the topology allows either way (README, "Running in production"): the
 * three middle stages fused in prepare-notifications, which reads in enrich-recipients' consumer
 * group, and the same three apart. Under a steady stream of orders (a quarter with a condition
 * that says no, a quarter whose first check fails and is re-checked from the schedule store,
 * a quarter whose condition says yes), the apart stages start beside the fused one (the groups
 * split the partitions), the fused one drains and stops, then the fused one comes back and the
 * apart ones drain and stop. Every order must come out once: one email notification, or its
 * Order_SendConditionNotMet, and no notification twice.
 */
describe('a rolling change between the fused and the apart topology, under load', () => {
  const env = stackEnv();
  const prefix = uniquePrefix('roll');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '4' });
  const { kafka, codec } = testClients(config);
  let server: Awaited<ReturnType<typeof startConditionServer>>;
  const processes: StageProcess[] = [];
  const consumers: { stop(): Promise<void> }[] = [];
  /** email notifications written, by order */
  const emails = new Map<string, EmailNotification[]>();
  const notMet = new Set<string>();
  const pokes = new Set<() => void>();
  const poke = () => pokes.forEach((p) => p());
  const waitFor = (predicate: () => boolean, ms: number, what: string) => {
    const u = until(predicate, ms, what);
    pokes.add(u.poke);
    return u.done.finally(() => pokes.delete(u.poke));
  };

  const start = async (stages: string[]) => {
    const p = startStageProcess(stages, {
      ...stageEnv(config),
      REGISTRY_URL: env.REGISTRY_URL!,
      EGRESS_ALLOW_LOOPBACK: 'true',
      SCHEDULER_POLL_MS: '50',
      CONDITION_RETRY_DELAY_MS: '1000',
    });
    processes.push(p);
    await p.running;
    return p;
  };
  /** SIGTERM: the process drains (its batch in hand commits) and leaves its groups */
  const stop = async (p: StageProcess) => {
    p.child.kill('SIGTERM');
    return p.exited;
  };

  beforeAll(async () => {
    server = await startConditionServer();
    await provision(kafka, codec, config);
    consumers.push(
      await kafka.collect({
        groupId: `${prefix}emails`,
        topics: [topicName(prefix, 'emailQueue')],
        onRecord: (r) =>
          void codec.decode('emailQueue', r.value).then((v) => {
            emails.set(v.orderId, [...(emails.get(v.orderId) ?? []), v]);
            poke();
          }),
      }),
      await kafka.collect({
        groupId: `${prefix}status`,
        topics: [topicName(prefix, 'status')],
        onRecord: (r) =>
          void codec.decode('status', r.value).then((v: StatusEvent) => {
            if (v.status === 'Order_SendConditionNotMet') notMet.add(v.orderId);
            poke();
          }),
      }),
    );
  });

  afterAll(async () => {
    if (process.env.ROLL_LOG_DIR)
      processes.forEach((p, n) => writeFileSync(join(process.env.ROLL_LOG_DIR!, `process-${n}.log`), p.output()));
    for (const p of processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    for (const c of consumers) await c.stop();
    await server.close();
    await kafka.close();
  });

  it('hands every order on once while the stages roll from fused to apart and back', async () => {
    const orders: { orderId: string; says: 'no' | 'yes' }[] = [];
    const outcomes = () => orders.filter((o) => emails.has(o.orderId) || notMet.has(o.orderId)).length;
    let i = 0;
    /** a wave of 40 orders; the next waits until half of all so far have their outcome */
    const wave = async () => {
      const batch = Array.from({ length: 40 }, () => {
        const n = i++;
        const condition = [`${server.base}/false`, `${server.base}/flaky/${prefix}-${n}`, `${server.base}/true`, null][
          n % 4
        ]!;
        return sampleOrder(n, { conditionEndpoint: condition });
      });
      for (const o of batch)
        orders.push({ orderId: o.orderId, says: o.conditionEndpoint?.endsWith('/false') ? 'no' : 'yes' });
      await publish(
        kafka,
        codec,
        prefix,
        'orders',
        batch.map((o) => ({ key: o.orderId, value: o })),
      );
      await waitFor(() => outcomes() >= orders.length / 2, 60_000, `half of ${orders.length} orders out`);
    };

    const scheduling = await start(['scheduler', 'schedule-window']);
    const fused = await start(FUSED);
    for (let w = 0; w < 4; w++) await wave();
    // apart beside fused: enrich-recipients and prepare-notifications split the partitions
    const apart = await start(APART);
    for (let w = 0; w < 4; w++) await wave();
    expect([0, 75]).toContain(await stop(fused));
    for (let w = 0; w < 4; w++) await wave();
    // and back
    const fusedAgain = await start(FUSED);
    for (let w = 0; w < 2; w++) await wave();
    expect([0, 75]).toContain(await stop(apart));
    for (let w = 0; w < 4; w++) await wave();

    await waitFor(() => outcomes() === orders.length, 120_000, `all ${orders.length} orders out`);
    const twice = [...emails.values()].filter(
      (list) => new Set(list.map((n) => n.notificationId)).size !== 1 || list.length !== 1,
    );
    expect(twice).toEqual([]);
    for (const o of orders) {
      if (o.says === 'no') {
        expect(emails.has(o.orderId), `order ${o.orderId} (condition false) sent`).toBe(false);
        expect(notMet.has(o.orderId)).toBe(true);
      } else {
        expect(emails.get(o.orderId)?.length, `order ${o.orderId}`).toBe(1);
        expect(notMet.has(o.orderId)).toBe(false);
      }
    }
    expect(orders.length).toBe(720);
    await stop(fusedAgain);
    await stop(scheduling);
  });
});
