import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../gateway/local-tokens.ts';
import { provision } from '../../platform/provision.ts';
import { topicName } from '../../platform/topics.ts';
import { stageEnv, testClients, testConfig, uniquePrefix } from '../support/stack.ts';
import { Instance, StackControl, inSyncAgain, sleep } from './cluster.ts';

/**
 * Instant orders through the death of each broker in turn, on one gateway: an instant order is
 * for a one-time code, so the gateway must go on acknowledging them while the cluster fails
 * over, not stall behind one transaction whose outcome it is still learning. Clients post at a
 * steady rate and retry a 503 (with the same idempotencyId) for up to CLIENT_PATIENCE_S; every
 * order must be acknowledged within it, and every acknowledged order's notification must be on
 * its instant lane. Prints how long the longest order waited for its acknowledgement.
 *
 * Runs on the cluster stack (STACK_BROKERS=3) beside the chaos test.
 */
const RATE = 10;
const DOWN_MS = 30_000;
const CLIENT_PATIENCE_S = 60;

describe('instant orders while brokers die', () => {
  const env = process.env as Record<string, string>;
  const prefix = uniquePrefix('instantloss');
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '6' });
  const { kafka, codec } = testClients(config);
  const stack = new StackControl(env);
  const gateway = new Instance(
    'gateway',
    'gateway/main.ts',
    () => ({
      ...stageEnv(config),
      REGISTRY_URL: env.REGISTRY_URL!,
      GATEWAY_PORT: '0',
      AUTH_PUBLIC_KEY_FILE: env.AUTH_PUBLIC_KEY_FILE!,
      RATE_LIMIT_PER_SECOND: '1000000',
    }),
    /"port":(\d+),"msg":"gateway listening"/,
  );
  let token = '';

  beforeAll(async () => {
    await provision(kafka, codec, config);
    token = await mintToken(readFileSync(env.AUTH_PRIVATE_KEY_FILE!, 'utf8'), {
      org: 'ttd',
      scope: 'altinn:serviceowner/notifications.create',
    });
    await gateway.start();
  });

  afterAll(async () => {
    await gateway.kill();
    await kafka.close();
  });

  it('keeps acknowledging instant orders while each broker in turn is killed and restarted', async () => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const started = Date.now();
    const at = () => ((Date.now() - started) / 1000).toFixed(1);
    const acknowledged: { i: number; shipmentId: string; waitedMs: number; firstAt: number }[] = [];
    const refused: string[] = [];
    let unavailableAnswers = 0;

    async function post(i: number): Promise<void> {
      const sms = i % 2 === 0;
      const body = sms
        ? {
            idempotencyId: `${prefix}${i}`,
            recipientSms: {
              phoneNumber: `+4793${String(i).padStart(6, '0')}`,
              timeToLiveInSeconds: 3600,
              smsSettings: { body: `code ${i}` },
            },
          }
        : {
            idempotencyId: `${prefix}${i}`,
            recipientEmail: {
              emailAddress: `i${i}@example.com`,
              emailSettings: { subject: 'code', body: `code ${i}` },
            },
          };
      const first = Date.now();
      const tries: string[] = [];
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await fetch(
            `http://127.0.0.1:${gateway.port}/notifications/api/v1/future/orders/instant/${sms ? 'sms' : 'email'}`,
            { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) },
          );
          if (res.status === 201 || res.status === 200) {
            const answer = (await res.json()) as { notification: { shipmentId: string } };
            acknowledged.push({
              i,
              shipmentId: answer.notification.shipmentId,
              waitedMs: Date.now() - first,
              firstAt: (first - started) / 1000,
            });
            return;
          }
          if (res.status === 503) unavailableAnswers++;
          tries.push(`${res.status} at ${at()} s`);
          await res.text();
        } catch (err) {
          tries.push(`${(err as Error).name} at ${at()} s`);
        }
        if (Date.now() - first > CLIENT_PATIENCE_S * 1000) {
          refused.push(`order ${i}, first tried at ${((first - started) / 1000).toFixed(1)} s: ${tries.join('; ')}`);
          return;
        }
        await sleep(Math.min(2_000, 100 * 2 ** attempt));
      }
    }

    const brokers = Number(env.STACK_BROKERS ?? 3);
    let stop = false;
    const posts: Promise<void>[] = [];
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        posts.push(post(i));
        await sleep(1000 / RATE);
      }
    })();
    const faults: string[] = [];
    await sleep(10_000);
    for (let b = 1; b <= brokers; b++) {
      stack.kill(`kafka-${b}`);
      await sleep(DOWN_MS);
      await stack.restartMissing();
      // the next broker dies once this one is back in every partition's in-sync set (any earlier,
      // a partition whose only other in-sync replica dies could not be written: acks=all, two in sync)
      const inSync = await inSyncAgain(kafka);
      faults.push(`kafka-${b} killed, back at ${at()} s, ${inSync}`);
    }
    stop = true;
    await load;
    await Promise.all(posts);

    const waits = acknowledged.map((a) => a.waitedMs).sort((a, b) => a - b);
    const longest = acknowledged.reduce((m, a) => (a.waitedMs > m.waitedMs ? a : m), acknowledged[0]!);
    console.log(
      [
        `instant orders while brokers die (one gateway, ${RATE}/s, each broker down ${DOWN_MS / 1000} s in turn):`,
        `  faults        ${faults.join('; ')}`,
        `  acknowledged  ${acknowledged.length} of ${posts.length}; ${refused.length} not within ${CLIENT_PATIENCE_S} s; ${unavailableAnswers} answers 503`,
        `  waited        p50 ${waits[Math.floor(waits.length / 2)]} ms, p99 ${waits[Math.floor(waits.length * 0.99)]} ms, longest ${longest.waitedMs} ms (order first tried at ${longest.firstAt} s)`,
        ...refused.slice(0, 5).map((r) => `  refused       ${r}`),
      ].join('\n'),
    );
    if (refused.length > 0)
      console.log(
        `gateway warnings:\n${gateway
          .output()
          .split('\n')
          .filter((l) => /"level":(40|50|60)/.test(l))
          .slice(-40)
          .join('\n')}`,
      );

    // every acknowledged order's notification is on its instant lane (committed records only)
    const onLanes = new Set<string>();
    for (const lane of ['smsInstant', 'emailInstant'] as const) {
      const values: Buffer[] = [];
      await kafka.readSince(topicName(prefix, lane), started - 60_000, (r) => {
        if (r.value) values.push(r.value);
      });
      for (const v of values) onLanes.add((await codec.decode(lane, v)).orderId);
    }
    expect(refused).toEqual([]);
    expect(acknowledged.filter((a) => !onLanes.has(a.shipmentId)).map((a) => a.i)).toEqual([]);
  });
});
