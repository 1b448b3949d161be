import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../gateway/local-tokens.ts';
import type { InboundRecord } from '../../platform/kafka/adapter.ts';
import { provision } from '../../platform/provision.ts';
import { RECORD_RETRY } from '../../platform/redis/send-ledger.ts';
import { backoffDelay, defaultBackoff } from '../../platform/retry.ts';
import { DRAIN_CUT_EXIT_CODE } from '../../platform/logger.ts';
import { stageGroupId } from '../../processors/runtime/runner.ts';
import { STAGES as STAGE_MODULES } from '../../processors/stages.ts';
import { topicName, type TopicKey } from '../../platform/topics.ts';
import type { DeadLetter } from '../../platform/schemas/generated/dead-letter.ts';
import { freePort } from '../support/process.ts';
import { sampleOrder, stageEnv, testClients, testConfig, testRedis, uniquePrefix } from '../support/stack.ts';
import { Instance, StackControl, inSyncAgain, javaHash, sleep } from './cluster.ts';

/**
 * The chaos test of the production layout (issue 17): a three-broker cluster, two instances of
 * every stage, two gateways, and a stream of mixed orders while a schedule of faults runs:
 * the broker leading most partitions of the orders topic SIGKILLed and restarted 30 s later,
 * then the transaction coordinator of one stage; then the broker coordinating the most transactions
 * hung (SIGSTOP) for 30 s, as a frozen host or a cut without a reset is; one instance of each stage SIGKILLed in turn
 * and restarted 10 s later; Redis SIGKILLed and restarted (append-only file on), then hung (SIGSTOP)
 * for 15 s, then demoted to a replica (writes answered READONLY, as a failover leaves the old
 * primary) for 10 s; the schema
 * registry SIGKILLed and restarted (its schemas and ids must come back: Kafka storage); a gateway
 * SIGKILLed while clients post (they retry on the other with the same idempotencyId); and a
 * rolling restart of every stage instance. The faults overlap: the stage kills run beside the
 * gateway, broker and Redis kills (each killed instance starting again as the next is killed),
 * and the rolling restart rolls every stage side by side, one instance of each at a time, as
 * `helm upgrade` rolls every Deployment. Then everything is counted at
 * the SMTP sink and the SMSC simulator and read back through the API. The cluster is the secured
 * one (Kafka on SASL_SSL, Redis on TLS with a password).
 *
 * Runs on the cluster stack `./dev test` starts for it (STACK_BROKERS=3); CHAOS_ORDERS and
 * CHAOS_RATE change its size.
 */
const TOTAL = Number(process.env.CHAOS_ORDERS ?? 20_000);
const RATE = Number(process.env.CHAOS_RATE ?? 60);
/** the load and the faults must be over this long after the load began (the test's own bound) */
const LOAD_AND_FAULTS_BOUND_S = Number(process.env.CHAOS_BOUND_S ?? 2_400);
const STAGES: [string, TopicKey][] = [
  ['scheduler', 'orders'],
  ['prepare-notifications', 'ordersDue'],
  ['schedule-window', 'smsPending'],
  ['send-email', 'emailQueue'],
  ['send-sms', 'smsQueue'],
  ['order-view', 'orders'],
  ['status-view', 'status'],
];
/**
 * the lanes: the senders' instant lanes run in the senders' processes, evaluate-condition and
 * resolve-channel in prepare-notifications'; watched as stages
 */
const LANES: [string, TopicKey][] = [
  ['evaluate-condition', 'ordersEnriched'],
  ['resolve-channel', 'ordersApproved'],
  ['send-email.instant', 'emailInstant'],
  ['send-sms.instant', 'smsInstant'],
  ['send-email.composed', 'emailComposed'],
  ['send-email.composed-retry', 'emailComposedRetry'],
];
const SMTP_POOL = 4;
const SMPP_WINDOW = 10;
/** what each sender's instant lane may have under way: its own SMTP connections, its window places */
const INSTANT_POOL = 1;
const INSTANT_RESERVE = 2;
/** composed emails under way at once in each send-email instance (their own SMTP connections) */
const COMPOSED_POOL = 2;
/** how long a composed email whose files' storage did not answer waits before its next try */
const COMPOSED_RETRY_MS = 5_000;

interface Placed {
  id: string;
  kind: string;
}

describe('the production layout under faults', () => {
  const env = process.env as Record<string, string>;
  const prefix = uniquePrefix('chaos');
  // Two partitions per topic, one per instance of each stage: every stage commits a transaction
  // per input partition per fetch, and on three replicating brokers a transaction costs about
  // thirty broker requests (13 of them follower fetches), so at this test's rates the partition
  // count multiplies what the brokers do. Measured on this layout (3 brokers, 2 instances of every
  // stage, 2 gateways, 1,200 orders, `bench/run.ts --suite e2e --layouts 2`): 36 orders/s end to
  // end with 2 partitions against 11 with 6, and the brokers 27 CPU-s per 1,000 orders against
  // 123. Every fault, count and bound is as it was with 6.
  const config = testConfig(prefix, { TOPIC_PARTITIONS: '2' });
  const { kafka, codec } = testClients(config);
  const stack = new StackControl(env);
  const systemId = `chaos-${randomUUID().slice(0, 8)}`;
  const instances: Instance[] = [];
  const faults: string[] = [];
  let token = '';
  let composedToken = '';

  const stageProcessEnv = () => ({
    ...stageEnv(config),
    REGISTRY_URL: env.REGISTRY_URL!,
    SMTP_HOST: env.SMTP_HOST!,
    SMTP_PORT: env.SMTP_PORT!,
    SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
    SMTP_POOL_SIZE: String(SMTP_POOL),
    SMTP_INSTANT_POOL_SIZE: String(INSTANT_POOL),
    // composed emails' files from the stack's blob store (loopback, its CA)
    COMPOSED_EMAIL_CONCURRENCY: String(COMPOSED_POOL),
    EGRESS_ALLOW_LOOPBACK: 'true',
    ATTACHMENT_HOSTS: '127.0.0.1',
    ATTACHMENT_CA_FILE: env.BLOB_STORE_CA_FILE!,
    ATTACHMENT_RETRY_DELAY_MS: String(COMPOSED_RETRY_MS),
    EMAIL_RATE_PER_SECOND: '5000',
    SMSC_HOST: env.SMSC_HOST!,
    SMSC_PORT: env.SMSC_PORT!,
    SMPP_SYSTEM_ID: systemId,
    SMPP_PASSWORD: 'secret',
    SMPP_TPS: '2000',
    SMPP_WINDOW: String(SMPP_WINDOW),
    SMPP_INSTANT_RESERVE: String(INSTANT_RESERVE),
    SHUTDOWN_TIMEOUT_MS: '20000',
    // What this test checks is loss and duplication, not latency. At its 10–35 orders/s over six
    // partitions a fetch that waits the default 100 ms brings about one record per partition, so
    // nearly every record costs a transaction of its own in every stage, on three replicating
    // brokers, on two cores: the run was CPU-bound (the brokers two thirds of it, load average
    // 30), and its length followed the machine's noise (12.6 to 43 minutes). Waiting up to 1 s
    // commits several records per transaction (see docs/performance.md); every
    // fault, count and bound is as before.
    CONSUMER_FETCH_MAX_WAIT_MS: '1000',
  });
  const gatewayEnv = (port: string) => () => ({
    ...stageEnv(config),
    REGISTRY_URL: env.REGISTRY_URL!,
    GATEWAY_PORT: port,
    AUTH_PUBLIC_KEY_FILE: env.AUTH_PUBLIC_KEY_FILE!,
    EMAIL_REPORT_ACCESS_KEY: env.EMAIL_REPORT_ACCESS_KEY!,
    RATE_LIMIT_PER_SECOND: '1000000',
    ATTACHMENT_HOSTS: '127.0.0.1',
  });

  beforeAll(async () => {
    await provision(kafka, codec, config);
    token = await mintToken(readFileSync(env.AUTH_PRIVATE_KEY_FILE!, 'utf8'), {
      org: 'ttd',
      scope: 'altinn:serviceowner/notifications.create',
    });
    composedToken = await mintToken(readFileSync(env.AUTH_PRIVATE_KEY_FILE!, 'utf8'), {
      org: 'ttd',
      scope: 'altinn:serviceowner/notifications.composedemail.create',
    });
    for (const [stage] of STAGES)
      for (const i of [1, 2])
        instances.push(
          new Instance(
            `${stage}-${i}`,
            'processors/main.ts',
            () => ({ ...stageProcessEnv(), STAGES: stage }),
            /"msg":"stages running"/,
          ),
        );
    // the first gateway on the stack's gateway port: the mail sink posts its delivery reports there
    instances.push(
      new Instance(
        'gateway-1',
        'gateway/main.ts',
        gatewayEnv(env.GATEWAY_PORT!),
        /"port":(\d+),"msg":"gateway listening"/,
      ),
      new Instance('gateway-2', 'gateway/main.ts', gatewayEnv('0'), /"port":(\d+),"msg":"gateway listening"/),
    );
    const started = Date.now();
    await Promise.all(instances.map((i) => i.start()));
    console.log(`chaos: ${instances.length} instances started in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  });

  /** the brokers stopped (SIGSTOP) now: let go at the end whatever happened */
  const paused = new Set<string>();
  afterAll(async () => {
    for (const name of paused) stack.resume(name);
    await Promise.all(instances.map((i) => i.kill()));
    await kafka.close();
  });

  it('loses nothing acknowledged and hands nothing off twice while brokers, stages, Redis and a gateway die', async () => {
    const gateways = instances.filter((i) => i.name.startsWith('gateway'));
    const byName = (n: string) => instances.find((i) => i.name === n)!;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const composedHeaders = { ...headers, authorization: `Bearer ${composedToken}` };
    const api = (g: Instance, path: string) => `http://127.0.0.1:${g.port}/notifications/api/v1${path}`;
    /** what a process logged at warn or above */
    const warnings = (g: Instance) =>
      g
        .output()
        .split('\n')
        .filter((l) => /"level":(40|50|60)/.test(l));
    /** a gateway that runs now (one that crashed is being started again) */
    const liveGateway = () => gateways.find((g) => g.running) ?? gateways[0]!;

    // ---- the orders -------------------------------------------------------------------------
    const placed: Placed[] = [];
    let refused = 0;
    /** what each try of an order that was never acknowledged got, so a failure says why */
    const refusals: string[] = [];
    const answered4xx: string[] = [];
    const sms = (i: number) => ({ body: `chaos ${prefix} ${i}`, sendingTimePolicy: 'Anytime' });
    const mail = (i: number) => ({ subject: `chaos ${i}`, body: `chaos ${prefix} ${i}` });
    function request(i: number): { path: string; body: unknown; kind: string; scope?: 'composed' } {
      const idempotencyId = `${prefix}${i}`;
      const file = composedFiles.get(i);
      if (file)
        return {
          kind: 'composed email',
          path: '/future/orders/composed-email',
          scope: 'composed',
          body: {
            idempotencyId,
            recipient: {
              emailAddress: `f${i}@example.com`,
              emailSettings: {
                ...mail(i),
                attachments: [{ filename: `vedtak ${i}.pdf`, mimeType: 'application/pdf', sasUrl: file.url }],
              },
            },
          },
        };
      switch (i % 10) {
        case 0:
        case 1:
        case 2:
          return {
            kind: 'email',
            path: '/future/orders',
            body: {
              idempotencyId,
              recipient: { recipientEmail: { emailAddress: `c${i}@example.com`, emailSettings: mail(i) } },
            },
          };
        case 3:
        case 4:
          return {
            kind: 'sms',
            path: '/future/orders',
            body: {
              idempotencyId,
              recipient: { recipientSms: { phoneNumber: `+4792${String(i).padStart(6, '0')}`, smsSettings: sms(i) } },
            },
          };
        case 5:
          return {
            kind: 'person EmailPreferred',
            path: '/future/orders',
            body: {
              idempotencyId,
              recipient: {
                recipientPerson: {
                  nationalIdentityNumber: '01017012345',
                  channelSchema: 'EmailPreferred',
                  emailSettings: mail(i),
                  smsSettings: sms(i),
                },
              },
            },
          };
        case 6:
          return {
            kind: 'person SmsPreferred',
            path: '/future/orders',
            body: {
              idempotencyId,
              recipient: {
                recipientPerson: {
                  nationalIdentityNumber: '02027012345',
                  channelSchema: 'SmsPreferred',
                  emailSettings: mail(i),
                  smsSettings: sms(i),
                },
              },
            },
          };
        case 7:
          return {
            kind: 'organisation',
            path: '/future/orders',
            body: {
              idempotencyId,
              recipient: {
                recipientOrganization: { orgNumber: '910000001', channelSchema: 'Email', emailSettings: mail(i) },
              },
            },
          };
        default:
          return i % 20 === 8
            ? {
                kind: 'instant SMS',
                path: '/future/orders/instant/sms',
                body: {
                  idempotencyId,
                  recipientSms: {
                    phoneNumber: `+4793${String(i).padStart(6, '0')}`,
                    timeToLiveInSeconds: 3600,
                    smsSettings: { body: `chaos ${prefix} ${i}` },
                  },
                },
              }
            : {
                kind: 'instant email',
                path: '/future/orders/instant/email',
                body: { idempotencyId, recipientEmail: { emailAddress: `i${i}@example.com`, emailSettings: mail(i) } },
              };
      }
    }

    /**
     * Posts one order, on the other gateway when one fails, with the same idempotencyId, for up
     * to three minutes. A client waits for an answer longer than the gateway's own bounds (a
     * claimed idempotencyId waited for 10 s, then Kafka's acknowledgement 10 s, an instant
     * order's commit outcome 15 s more), as .NET's HttpClient does (100 s): one that gave up at
     * 15 s left its request running in the gateway, holding the idempotencyId, so its retry
     * waited for it and gave up in turn, a chain that outlasted the two minutes of an order
     * while Kafka's leaders moved back to a restarted broker on a starved machine.
     */
    async function post(i: number): Promise<void> {
      const r = request(i);
      const started = Date.now();
      const deadline = started + 180_000;
      const tries: string[] = [];
      const at = () => `${((Date.now() - loadStarted) / 1000).toFixed(1)} s`;
      for (let attempt = 0; ; attempt++) {
        const g = gateways[(i + attempt) % gateways.length]!;
        try {
          const res = await fetch(api(g, r.path), {
            method: 'POST',
            headers: r.scope === 'composed' ? composedHeaders : headers,
            body: JSON.stringify(r.body),
            signal: AbortSignal.timeout(60_000),
          });
          if (res.status === 201 || res.status === 200) {
            const body = (await res.json()) as { notification: { shipmentId: string } };
            placed.push({ id: body.notification.shipmentId, kind: r.kind });
            const file = composedFiles.get(i);
            if (file) composedPlaced.set(body.notification.shipmentId, file);
            return;
          }
          // 409: the same idempotencyId is still being registered (a try cut off by a kill): retry
          if (res.status < 500 && res.status !== 409 && res.status !== 429) {
            answered4xx.push(`order ${i} (${r.kind}): ${res.status} ${await res.text()}`);
            return;
          }
          tries.push(`${g.name} ${res.status} ${(await res.text()).slice(0, 160)} at ${at()}`);
        } catch (err) {
          // the gateway died or did not answer: the next try goes to the other one
          tries.push(`${g.name} ${(err as Error).name} at ${at()}`);
        }
        if (Date.now() > deadline) {
          refused++;
          refusals.push(
            `order ${i} (${r.kind}), first tried at ${(started - loadStarted) / 1000} s: ${tries.join('; ')}`,
          );
          // at once, too: a run that then times out still says why; the first with what the
          // gateways last warned of
          console.log(`chaos: never acknowledged: ${refusals.at(-1)}`);
          if (refusals.length === 1)
            for (const g of gateways)
              console.log(`chaos: ${g.name}'s last warnings:\n${warnings(g).slice(-25).join('\n')}`);
          return;
        }
        await sleep(Math.min(2_000, 100 * 2 ** attempt));
      }
    }

    // Composed emails (one order in 50, in place of a plain email): each with a file of its own in
    // the stack's blob store; every third one's storage answers 503 at the first read, so the
    // email waits on the retry topic (COMPOSED_RETRY_MS) and its retry lane sends it.
    const composedFiles = new Map<number, { url: string; size: number; md5: string }>();
    /** the composed orders acknowledged: shipment id → its file */
    const composedPlaced = new Map<string, { url: string; size: number; md5: string }>();
    {
      const wanted = [...Array(Math.ceil(TOTAL / 50)).keys()].map((k) => k * 50);
      for (let k = 0; k < wanted.length; k += 20)
        await Promise.all(
          wanted.slice(k, k + 20).map(async (i) => {
            const content = randomBytes(2_000 + (i % 7) * 1_000);
            const res = await fetch(
              `${env.BLOB_STORE_CONTROL_URL}/admin/blobs/chaos/${encodeURIComponent(`${prefix}${i}.pdf`)}${i % 150 === 0 ? '?status=503,200' : ''}`,
              { method: 'PUT', headers: { 'content-type': 'application/pdf' }, body: content },
            );
            expect(res.status).toBe(201);
            const { url } = (await res.json()) as { url: string };
            composedFiles.set(i, { url, size: content.length, md5: createHash('md5').update(content).digest('hex') });
          }),
        );
    }

    // a direct producer's orders: acknowledged by the broker (acks=all), retried until they are
    const directProducer = await kafka.plainProducer();
    async function produceDirect(batch: number[]): Promise<void> {
      const orders = batch.map((i) =>
        sampleOrder(i, {
          created: Date.now(),
          requestedSendTime: Date.now(),
          emailTemplate: {
            fromAddress: 'noreply@altinn.cloud',
            subject: `chaos ${i}`,
            body: `chaos ${prefix} ${i}`,
            contentType: 'Plain',
          },
        }),
      );
      const records = await Promise.all(
        orders.map(async (o) => ({
          topic: topicName(prefix, 'orders'),
          key: o.orderId,
          value: await codec.encode('orders', o),
        })),
      );
      const deadline = Date.now() + 120_000;
      for (;;) {
        try {
          await directProducer.send(records);
          for (const o of orders) placed.push({ id: o.orderId, kind: 'direct producer' });
          return;
        } catch {
          if (Date.now() > deadline) {
            refused += orders.length;
            return;
          }
          await sleep(1_000);
        }
      }
    }

    const loadStarted = Date.now();
    /** the steps of the run under way, and when each began, so a run that overruns says where */
    const underway = new Map<string, number>();
    const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      underway.set(name, Date.now());
      try {
        return await work();
      } finally {
        underway.delete(name);
      }
    };
    /** a fault done, with when it ended (seconds into the load), printed at once so a run that times out says how far it got */
    const fault = (text: string) => {
      const line = `${text} [done at ${((Date.now() - loadStarted) / 1000).toFixed(0)} s]`;
      faults.push(line);
      console.log(`chaos: ${line}`);
    };
    const load = (async () => {
      const inFlight = new Set<Promise<void>>();
      let direct: number[] = [];
      for (let i = 0; i < TOTAL; i++) {
        const at = loadStarted + (i / RATE) * 1000;
        if (at > Date.now()) await sleep(at - Date.now());
        let p: Promise<void>;
        if (i % 10 === 9) {
          direct.push(i);
          if (direct.length < 20) continue;
          p = produceDirect(direct);
          direct = [];
        } else p = post(i);
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        while (inFlight.size >= 64) await Promise.race(inFlight);
      }
      if (direct.length > 0) await produceDirect(direct);
      await Promise.all(inFlight);
      console.log(`chaos: ${placed.length} orders placed in ${((Date.now() - loadStarted) / 1000).toFixed(0)} s`);
    })();

    // ---- progress watch: the longest time a stage had lag and committed nothing --------------
    // (`from`: when the longest began, so a long one can be set beside the fault under way then)
    const stalls = new Map<string, { last: string; since: number; longest: number; from: number }>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const [stage, input] of [...STAGES, ...LANES]) {
          try {
            const topic = topicName(prefix, input);
            const [ends, committed] = await Promise.all([
              kafka.topicEndOffsets(topic),
              kafka.groupOffsets(stageGroupId(prefix, STAGE_MODULES[stage]?.group ?? stage), topic),
            ]);
            // transaction markers take an offset each: a few per partition are not lag
            let lagging = false;
            for (const [p, end] of ends) {
              const c = committed.get(p) ?? -1n;
              if (BigInt(end) - (c < 0n ? 0n : c) > 5n) lagging = true;
            }
            const state = [...committed.values()].join(',');
            const s = stalls.get(stage) ?? { last: state, since: Date.now(), longest: 0, from: 0 };
            if (state !== s.last || !lagging) {
              s.last = state;
              s.since = Date.now();
            } else if (Date.now() - s.since > s.longest) {
              s.longest = Date.now() - s.since;
              s.from = s.since;
            }
            stalls.set(stage, s);
          } catch {
            // the cluster may not answer while a broker is down; the next round asks again
          }
        }
        await sleep(2_000);
      }
    })();

    /** This run's subjects with each version's id, as the registry answers them. */
    const registeredSchemas = async () => {
      const base = env.SCHEMA_REGISTRY_URL!;
      const subjects = (
        (await (await fetch(`${base}/subjects`, { signal: AbortSignal.timeout(30_000) })).json()) as string[]
      )
        .filter((s) => s.startsWith(prefix))
        .sort();
      return Promise.all(
        subjects.map(async (s) => {
          const latest = (await (
            await fetch(`${base}/subjects/${encodeURIComponent(s)}/versions/latest`, {
              signal: AbortSignal.timeout(30_000),
            })
          ).json()) as {
            id: number;
            version: number;
          };
          return `${s} v${latest.version} id ${latest.id}`;
        }),
      );
    };

    // ---- the faults ------------------------------------------------------------------------
    let emailKills = 0;
    let smsKills = 0;
    let redisKills = 0;
    /**
     * Redis demotions that outlasted the shortest span over which an outcome's write is tried
     * (RECORD_RETRY): after one, an outcome held in memory may be given up, as at a Redis kill
     */
    let longDemotions = 0;
    const demotionMs = 10_000;
    // Two tracks of faults side by side, as faults overlap in production: what the pipeline runs
    // on (a gateway, two brokers, Redis) and the stage instances; then the schema registry, and a
    // rolling restart that starts every stage afresh against it.
    const infrastructure = async () => {
      // the gateway: killed while clients post, back 15 s later
      await step('SIGKILL gateway-2', () => byName('gateway-2').kill());
      fault('SIGKILL gateway-2 (clients retried on gateway-1), restarted 15 s later');
      const gatewayBack = sleep(15_000).then(() => step('starting gateway-2 again', () => byName('gateway-2').start()));

      // the broker that leads most partitions of the orders topic
      const leaders = await step("asking for the orders partitions' leaders", () =>
        kafka.partitionLeaders(topicName(prefix, 'orders')),
      );
      const counts = new Map<number, number>();
      for (const node of leaders.values()) counts.set(node, (counts.get(node) ?? 0) + 1);
      const busiest = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
      stack.kill(`kafka-${busiest}`);
      await sleep(30_000);
      await step(`starting kafka-${busiest} again`, () => stack.restartMissing());
      // One broker at a time, as replication factor 3 with min.insync.replicas 2 is meant to
      // survive: the next broker dies once this one is back in every partition's in-sync set. Any
      // earlier, a partition whose only other in-sync replica dies is unwritable (by design: acks=all
      // refuses rather than keep one copy) for as long as the broker takes to come back and catch
      // up, over the clients' two minutes on a slow machine.
      const caughtUp = await step(`waiting for kafka-${busiest} to be in sync`, () => inSyncAgain(kafka));
      await gatewayBack;
      fault(
        `SIGKILL kafka-${busiest} (leader of ${counts.get(busiest)} of ${leaders.size} orders partitions), restarted 30 s later, ${caughtUp}`,
      );

      // the transaction coordinator of resolve-channel's partition 0 producer (with
      // TRANSACTION_SCOPE=instance, of its first instance's producer)
      const txId =
        config.TRANSACTION_SCOPE === 'instance'
          ? `${config.KAFKA_CLIENT_ID}:${prefix}notifications.resolve-channel:resolve-channel-1`
          : `${config.KAFKA_CLIENT_ID}:${prefix}notifications.resolve-channel:${topicName(prefix, 'ordersApproved')}:0`;
      const txPartition = (javaHash(txId) & 0x7fffffff) % 12;
      const coordinator = (
        await step('asking for the transaction coordinators', () => kafka.partitionLeaders('__transaction_state'))
      ).get(txPartition)!;
      stack.kill(`kafka-${coordinator}`);
      await sleep(30_000);
      await step(`starting kafka-${coordinator} again`, () => stack.restartMissing());
      const inSync = await step(`waiting for kafka-${coordinator} to be in sync`, () => inSyncAgain(kafka));
      fault(
        `SIGKILL kafka-${coordinator} (transaction coordinator of resolve-channel), restarted 30 s later, ${inSync}`,
      );

      // a broker that hangs rather than dies (a frozen host, a network cut without a reset): its
      // connections stay open and answer nothing, so a client learns of it only from its own
      // timeouts, and the controller fences it after its session (broker.session.timeout.ms).
      // The one coordinating the most transactions now (of the stages' producers).
      const txLeaders = await step('asking for the transaction coordinators', () =>
        kafka.partitionLeaders('__transaction_state'),
      );
      const txCounts = new Map<number, number>();
      for (const node of txLeaders.values()) txCounts.set(node, (txCounts.get(node) ?? 0) + 1);
      const [hung, coordinates] = [...txCounts].sort((a, b) => b[1] - a[1])[0]!;
      stack.pause(`kafka-${hung}`);
      paused.add(`kafka-${hung}`);
      await sleep(30_000);
      stack.resume(`kafka-${hung}`);
      paused.delete(`kafka-${hung}`);
      const hungInSync = await step(`waiting for kafka-${hung} to be in sync`, () => inSyncAgain(kafka));
      fault(
        `SIGSTOP kafka-${hung} (coordinator of ${coordinates} of ${txLeaders.size} __transaction_state partitions), SIGCONT 30 s later, ${hungInSync}`,
      );

      // Redis
      stack.kill('redis');
      redisKills++;
      await sleep(2_000);
      await step('starting Redis again', () => stack.restartMissing());
      fault('SIGKILL Redis (append-only file, fsync always), restarted 2 s later');

      // Redis hangs rather than dies (a snapshot's fork of a large dataset, a paused VM): its
      // connections stay open and answer nothing, every call waits, and its keys' times to live
      // run on meanwhile (at SIGCONT every lease and mark that ran out in the hang is gone at once)
      stack.pause('redis');
      paused.add('redis');
      await sleep(15_000);
      stack.resume('redis');
      paused.delete('redis');
      fault('SIGSTOP Redis, SIGCONT 15 s later');

      // Redis demoted to a replica, as a failover leaves the old primary (and a managed Redis
      // whose endpoint moved looks to a client until it connects again): every write answered
      // READONLY over connections that stay open; promoted back 10 s later
      const admin = testRedis();
      try {
        const nowhere = await freePort();
        await step('demoting Redis', () => admin.call('REPLICAOF', '127.0.0.1', String(nowhere)));
        if (demotionMs > recordRetryShortestMs()) longDemotions++;
        await sleep(demotionMs);
        await step('promoting Redis again', () => admin.call('REPLICAOF', 'NO', 'ONE'));
      } finally {
        admin.disconnect();
      }
      fault(`Redis demoted to a replica (writes answered READONLY), promoted again ${demotionMs / 1000} s later`);
    };

    const stageKills = async () => {
      // one instance of each stage in turn, every 10 s: each is started again as the next one
      // is killed (a start under load takes 10–40 s here, so starts overlap the next kills)
      const starts: Promise<void>[] = [];
      for (const [stage] of STAGES) {
        const inst = byName(`${stage}-1`);
        await inst.kill();
        if (stage === 'send-email') emailKills++;
        if (stage === 'send-sms') smsKills++;
        await sleep(10_000);
        starts.push(step(`starting ${inst.name} again after its SIGKILL`, () => inst.start()));
      }
      await Promise.all(starts);
      fault(`SIGKILL one instance of each of the ${STAGES.length} stages in turn, each restarted 10 s later`);
    };

    // every drain of the rolling restart: its exit code and what it gave up (asserted at the end,
    // after the table, so a failed drain still shows what the rest of the run counted)
    const drains: { name: string; code: number | string; gaveUp: number; cut: boolean; tail: string }[] = [];
    const run = async () => {
      await sleep(15_000);
      await Promise.all([infrastructure(), stageKills()]);

      // the schema registry: its schemas, and their ids, must survive it (Kafka storage); the
      // rolling restart below then starts every stage afresh against it, resolving the ids the
      // records on the topics carry
      const schemasBefore = await step('reading the registry', registeredSchemas);
      stack.kill('schema-registry');
      await sleep(5_000);
      await step('starting the schema registry again', () => stack.restartMissing());
      const schemasAfter = await step('reading the registry again', registeredSchemas);
      expect(schemasAfter).toEqual(schemasBefore);
      fault(
        `SIGKILL the schema registry (Kafka storage), restarted 5 s later: ${schemasAfter.length} subjects of ours, same ids after`,
      );

      // a rolling restart, as `helm upgrade` rolls every stage's Deployment at once: each stage
      // one instance at a time (drained, then started again before the next), all stages side by side
      const roll = async ([stage]: [string, TopicKey]) => {
        for (const i of [1, 2]) {
          const inst = byName(`${stage}-${i}`);
          const code = await step(`draining ${inst.name}`, () => inst.stop());
          const said = inst.output();
          const drain = said.slice(said.lastIndexOf('"msg":"draining"'));
          drains.push({
            name: inst.name,
            code,
            // waits on Kafka given up at the drain's budget (safe: the next owner settles them)
            gaveUp: drain.split('"msg":"drain gave up').length - 1,
            // the process's own bound (SHUTDOWN_TIMEOUT_MS) ended it: safe too, and reported
            cut: code === DRAIN_CUT_EXIT_CODE,
            tail: said.split('\n').slice(-30).join('\n'),
          });
          await step(`starting ${inst.name} again after its drain`, () => inst.start());
        }
      };
      await Promise.all(STAGES.map(roll));
      fault(
        `rolling restart of ${STAGES.length * 2} stage instances (SIGTERM, drain, start; every stage side by side, one instance of each at a time)`,
      );
    };
    // The load and the faults have a bound of their own, under the test's: a run that overruns
    // it (a step that never ends) still counts what it can and prints its table, and says which
    // steps were under way, rather than end at vitest's timeout with nothing said.
    let overran: string | undefined;
    let overrunTimer: NodeJS.Timeout | undefined;
    const overrun = new Promise<void>((resolve) => {
      overrunTimer = setTimeout(() => {
        const now = Date.now();
        overran =
          `the load and the faults were not over ${LOAD_AND_FAULTS_BOUND_S} s after the load began ` +
          `(${placed.length + refused + answered4xx.length} of ${TOTAL} orders answered); under way: ` +
          ([...underway].map(([what, since]) => `${what} (for ${((now - since) / 1000).toFixed(0)} s)`).join('; ') ||
            'no fault step');
        console.log(`chaos: ${overran}`);
        resolve();
      }, LOAD_AND_FAULTS_BOUND_S * 1000);
    });
    const faultsRun = run();
    faultsRun.catch(() => undefined);
    await Promise.race([Promise.all([load, faultsRun]), overrun]);
    clearTimeout(overrunTimer);
    if (!overran) await faultsRun;
    await directProducer.close().catch(() => undefined);
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    console.log(
      `chaos: load and faults over after ${loadSeconds.toFixed(0)} s; waiting for every order's final status`,
    );

    // ---- every acknowledged order to a final status ----------------------------------------
    type Shipment = { status: string; recipients: { status: string; destination: string }[] };
    const final = new Map<string, Shipment>();
    // (after an overrun, a short look: what is counted then only helps say what went wrong)
    const deadline = Date.now() + (overran ? 60_000 : 6 * 60_000);
    let pending = placed.map((p) => p.id);
    while (pending.length > 0 && Date.now() < deadline) {
      const next: string[] = [];
      for (let i = 0; i < pending.length; i += 32) {
        await Promise.all(
          pending.slice(i, i + 32).map(async (id) => {
            try {
              const res = await fetch(api(liveGateway(), `/future/shipment/${id}`), {
                headers,
                signal: AbortSignal.timeout(15_000),
              });
              const body = res.status === 200 ? ((await res.json()) as Shipment) : null;
              if (body?.status === 'Order_Completed') final.set(id, body);
              else next.push(id);
            } catch {
              next.push(id);
            }
          }),
        );
      }
      pending = next;
      if (pending.length > 0) await sleep(5_000);
    }

    // ---- counted at the sinks ---------------------------------------------------------------
    const emails = (await (
      await fetch(`${env.MAIL_WEB_URL}/email`, { signal: AbortSignal.timeout(120_000) })
    ).json()) as { headers: Record<string, string>; attachments?: { length: number; checksum: string }[] }[];
    const emailCounts = new Map<string, number>();
    // (the stack's mail sink may hold earlier runs' emails: only this run's orders count)
    const ours = new Set(placed.map((p) => p.id));
    /** composed emails at the sink: with their file byte for byte, and not */
    let composedWithFile = 0;
    const composedWrong: string[] = [];
    for (const e of emails) {
      const id = e.headers['x-notification-id'];
      const orderId = e.headers['x-order-id'] ?? '';
      if (id && ours.has(orderId)) emailCounts.set(id, (emailCounts.get(id) ?? 0) + 1);
      const file = composedPlaced.get(orderId);
      if (!file) continue;
      const got = e.attachments ?? [];
      if (got.length === 1 && got[0]!.length === file.size && got[0]!.checksum === file.md5) composedWithFile++;
      else composedWrong.push(`${orderId}: ${JSON.stringify(got.map((a) => [a.length, a.checksum]))}`);
    }
    const submits = (await (
      await fetch(`${env.SMSC_CONTROL_URL}/messages?systemId=${systemId}`, {
        signal: AbortSignal.timeout(120_000),
      })
    ).json()) as {
      destAddr: string;
      shortMessageHex: string;
    }[];
    const smsCounts = new Map<string, number>();
    for (const m of submits) {
      const key = `${m.destAddr} ${m.shortMessageHex}`;
      smsCounts.set(key, (smsCounts.get(key) ?? 0) + 1);
    }
    const twice =
      [...emailCounts.values()].filter((c) => c > 1).length + [...smsCounts.values()].filter((c) => c > 1).length;
    const handedOff = emailCounts.size + smsCounts.size;
    const notifications = [...final.values()].flatMap((s) => s.recipients);
    const inDoubtEmail = notifications.filter((n) => n.status === 'Email_Failed').length;
    const inDoubtSms = notifications.filter((n) => n.status === 'SMS_Failed').length;
    const inDoubt = inDoubtEmail + inDoubtSms;
    // What can be in doubt: what a killed sender had under way (its SMTP pool; the SMPP window),
    // and, at a Redis kill, what every sender had under way (its outcome could not be recorded
    // in the send ledger, so the replay reports it failed rather than send it again).
    const emailInstances = 2;
    const smsInstances = 2;
    const perEmail = SMTP_POOL + INSTANT_POOL + COMPOSED_POOL;
    const perSms = SMPP_WINDOW + INSTANT_RESERVE;
    const inDoubtBound =
      perEmail * emailKills +
      perSms * smsKills +
      (perEmail * emailInstances + perSms * smsInstances) * (redisKills + longDemotions);
    const otherFailures = notifications.filter(
      (n) => /Failed/.test(n.status) && n.status !== 'Email_Failed' && n.status !== 'SMS_Failed',
    );
    const lost = pending.length;
    // what a stage judged poison meanwhile: no record of this load is, so each is a fault taken
    // for the record's (its order stays short of a final status, or a notification of it does)
    const lettered: Buffer[] = [];
    await kafka.readSince(topicName(prefix, 'deadLetter'), 0, (r) => void (r.value && lettered.push(r.value)));
    const deadLetters = new Map<string, number>();
    for (const value of lettered) {
      const d = (await codec.decode('deadLetter', value)) as DeadLetter;
      const k = `${d.stage} ${d.errorCode}: ${d.reason.slice(0, 120)}`;
      deadLetters.set(k, (deadLetters.get(k) ?? 0) + 1);
    }
    // Exactly once in the chain too, not only at the sinks (whose send ledger would keep a
    // notification queued twice from being sent twice): each notification on a send queue once.
    // An instant order's notification is written by the gateway itself, with the order; a
    // gateway that takes over the claim of one killed before it answered looks for it on its
    // lane first, but writes it again when that read fails or takes too long (the ids derive from
    // the idempotencyId, so the send ledger hands it off once). Those are counted apart.
    const countQueued = async (queues: readonly TopicKey[]) => {
      // each copy's place and writer, so a failure says which writer wrote twice: a releaser's
      // copy carries the schedule id header, a stage's does not
      const queued = new Map<string, string[]>();
      const orderOf = new Map<string, string>();
      const place = (topic: string, r: InboundRecord) =>
        `${topic}/${r.partition}@${r.offset} +${((Number(r.timestamp) - loadStarted) / 1000).toFixed(1)} s${r.headers['x-schedule-id'] ? ' (releaser)' : ''}`;
      const orderIdOf = async (topic: TopicKey, r: InboundRecord) =>
        ((await codec.decode(topic, r.value).catch(() => undefined)) as { orderId?: string } | undefined)?.orderId ??
        r.headers['x-schedule-id']?.toString() ??
        r.key?.toString() ??
        '';
      const read: [TopicKey, InboundRecord][] = [];
      for (const queue of queues)
        await kafka.readSince(topicName(prefix, queue), loadStarted - 60_000, (r) => {
          const id = r.key?.toString() ?? '';
          queued.set(id, [...(queued.get(id) ?? []), place(queue, r)]);
          if ((queued.get(id)?.length ?? 0) > 1) read.push([queue, r]);
        });
      for (const [queue, r] of read) orderOf.set(r.key?.toString() ?? '', await orderIdOf(queue, r));
      const twice = [...queued].filter(([, copies]) => copies.length > 1);
      if (twice.length > 0) {
        // where the copies began: the first hop with an order on it twice wrote them
        const wanted = new Set(twice.map(([id]) => orderOf.get(id) ?? ''));
        const upstream = new Map<string, string[]>();
        for (const topic of ['orders', 'ordersDue', 'ordersEnriched', 'ordersApproved', 'smsPending'] as const) {
          const records: InboundRecord[] = [];
          await kafka.readSince(topicName(prefix, topic), loadStarted - 60_000, (r) => records.push(r));
          for (const r of records) {
            const orderId = await orderIdOf(topic, r);
            if (!wanted.has(orderId)) continue;
            const k = `${topic} ${orderId}`;
            upstream.set(k, [...(upstream.get(k) ?? []), place(topic, r)]);
          }
        }
        for (const [id, copies] of twice.slice(0, 5)) {
          const orderId = orderOf.get(id) ?? '';
          const before = [...upstream]
            .filter(([k]) => k.endsWith(` ${orderId}`))
            .map(([k, v]) => `${k.split(' ')[0]}: ${v.join(', ')}`);
          console.log(
            `chaos: ${id} (order ${orderId}) queued ${copies.length} times: ${copies.join(', ')}; upstream ${before.join('; ') || 'none read'}`,
          );
        }
        const perTopic = new Map<string, number>();
        for (const [k, v] of upstream) {
          const topic = k.split(' ')[0]!;
          if (v.length > 1) perTopic.set(topic, (perTopic.get(topic) ?? 0) + 1);
        }
        console.log(
          `chaos: of the ${wanted.size} orders queued twice, on a topic more than once: ${[...perTopic].map(([t, n]) => `${t} ${n}`).join(', ') || 'none'}`,
        );
      }
      return { notifications: queued.size, twice: twice.length };
    };
    // Why each one in doubt was reported failed, and when: the senders' status events say it
    // (a crash inside a hand-over, an answer lost, a refusal), so a count over the bound shows
    // which fault it followed.
    const whyFailed = new Map<string, { n: number; first: number; last: number }>();
    if (inDoubt > 0) {
      const failedOrders = new Set(
        [...final]
          .filter(([, s]) => s.recipients.some((n) => n.status === 'Email_Failed' || n.status === 'SMS_Failed'))
          .map(([id]) => id),
      );
      const events: InboundRecord[] = [];
      await kafka.readSince(topicName(prefix, 'status'), loadStarted - 60_000, (r) => events.push(r));
      for (const r of events) {
        const e = (await codec.decode('status', r.value).catch(() => undefined)) as
          { orderId?: string; status?: string; description?: string | null } | undefined;
        if (!e?.orderId || !failedOrders.has(e.orderId)) continue;
        if (e.status !== 'Email_Failed' && e.status !== 'SMS_Failed') continue;
        // (numbers and ids in a description differ per notification: the kind is what counts)
        const kind = `${e.status}: ${(e.description ?? '(none)').replace(/\d+/g, 'N')}`;
        const at = (Number(r.timestamp) - loadStarted) / 1000;
        const w = whyFailed.get(kind) ?? { n: 0, first: at, last: at };
        whyFailed.set(kind, { n: w.n + 1, first: Math.min(w.first, at), last: Math.max(w.last, at) });
      }
    }
    // (a composed email waiting for its files' storage is written to its retry topic again by
    // design: the retry topic is not counted, its lane hands each one off once)
    const chainQueued = await countQueued(['emailQueue', 'smsQueue', 'emailComposed']);
    const instantQueued = await countQueued(['emailInstant', 'smsInstant']);
    console.log(
      `chaos: final statuses read ${((Date.now() - loadStarted) / 1000 - loadSeconds).toFixed(0)} s after the load`,
    );
    const longestStall = Math.max(0, ...[...stalls.values()].map((s) => s.longest));
    watching = false;
    await watch;

    // processes that exited without being asked to (started again, as a Deployment would)
    const crashes = instances.flatMap((i) =>
      i.crashes.map((c) => ({
        name: i.name,
        code: c.code,
        second: ((c.at - loadStarted) / 1000).toFixed(0),
        tail: c.tail,
      })),
    );
    // starts not ready in time and drains not over in time (SIGKILLed, as a kubelet would)
    const hangs = instances.flatMap((i) =>
      i.hangs.map((h) => ({
        name: i.name,
        what: h.what,
        second: ((h.at - loadStarted) / 1000).toFixed(0),
        tail: h.tail,
      })),
    );
    // A drain ends with exit 0, or at the process's own bound (DRAIN_CUT_EXIT_CODE: SHUTDOWN_TIMEOUT_MS
    // passed while Kafka did not answer; safe, the next owner settles what it held). Anything
    // else (a crash while draining, a SIGKILL 45 s after SIGTERM) is a failure.
    const cut = drains.filter((d) => d.cut);
    const badDrains = drains.filter((d) => d.code !== 0 && !d.cut);
    const kinds = new Map<string, number>();
    for (const p of placed) kinds.set(p.kind, (kinds.get(p.kind) ?? 0) + 1);
    const rows: [string, string][] = [
      ['faults', faults.map((f, i) => `${i + 1}. ${f}`).join('\n' + ' '.repeat(16))],
      [
        'acknowledged',
        `${placed.length} orders, placed over ${loadSeconds.toFixed(0)} s while the faults ran (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}); ${refused} not acknowledged`,
      ],
      ['final status', `${final.size} orders Order_Completed, ${notifications.length} notifications`],
      [
        'handed off',
        `${handedOff} (${emailCounts.size} emails at the SMTP sink, ${smsCounts.size} SMS at the SMSC); ` +
          `composed: ${composedWithFile} of ${composedPlaced.size} with their file byte for byte` +
          (composedWrong.length > 0 ? `, ${composedWrong.length} not` : ''),
      ],
      ['twice', String(twice)],
      [
        'queued twice',
        `${chainQueued.twice} of ${chainQueued.notifications} from the chain; instant: ${instantQueued.twice} of ` +
          `${instantQueued.notifications} written again by a gateway taking over a killed one's claim (its read of the lane failed or took too long; handed off once)`,
      ],
      [
        'in doubt',
        `${inDoubt} reported failed, never resent (${inDoubtEmail} email, ${inDoubtSms} SMS; bound ${inDoubtBound}: ` +
          `(pool ${SMTP_POOL} + instant ${INSTANT_POOL} + composed ${COMPOSED_POOL}) × ${emailKills} send-email kill + ` +
          `(window ${SMPP_WINDOW} + instant ${INSTANT_RESERVE}) × ${smsKills} send-sms kill + ` +
          `((pool + instant + composed) × ${emailInstances} + (window + instant) × ${smsInstances}) × (${redisKills} Redis kill + ${longDemotions} demotion over ${(recordRetryShortestMs() / 1000).toFixed(1)} s))` +
          [...whyFailed]
            .map(([kind, w]) => `\n${' '.repeat(16)}${w.n} ${kind} (+${w.first.toFixed(0)} to +${w.last.toFixed(0)} s)`)
            .join(''),
      ],
      ['lost', `${lost}${lost > 0 ? ` (e.g. ${pending.slice(0, 3).join(', ')})` : ''}`],
      [
        'dead letters',
        `${lettered.length}` + [...deadLetters].map(([k, n]) => `\n${' '.repeat(16)}${n} ${k}`).join(''),
      ],
      [
        'crashed',
        `${crashes.length}${crashes.length > 0 ? ` (${crashes.map((c) => `${c.name} exited ${c.code} at ${c.second} s`).join(', ')}; each started again 2 s later)` : ''}`,
      ],
      [
        'hung',
        `${hangs.length}${hangs.length > 0 ? ` (${hangs.map((h) => `${h.name} ${h.what} at ${h.second} s`).join(', ')})` : ''}`,
      ],
      [
        'drains',
        `${drains.filter((d) => d.code === 0).length} of ${drains.length} exited 0 ` +
          `(${drains.reduce((n, d) => n + d.gaveUp, 0)} waits on Kafka given up at the drain's budget)` +
          (cut.length > 0 ? `; ended by their own bound: ${cut.map((d) => d.name).join(', ')}` : '') +
          (badDrains.length > 0 ? `; failed: ${badDrains.map((d) => `${d.name} exited ${d.code}`).join(', ')}` : ''),
      ],
      [
        'longest stall',
        `${(longestStall / 1000).toFixed(0)} s (${[...stalls]
          .map(
            ([s, v]) =>
              `${s} ${(v.longest / 1000).toFixed(0)}${v.longest >= 10_000 ? ` from ${((v.from - loadStarted) / 1000).toFixed(0)} s` : ''}`,
          )
          .join(', ')})`,
      ],
    ];
    if (otherFailures.length > 0) console.log('other failures:', otherFailures.slice(0, 10));
    for (const c of crashes) console.log(`${c.name} exited ${c.code} at ${c.second} s; its last lines:\n${c.tail}`);
    for (const h of hangs) console.log(`${h.name} ${h.what} at ${h.second} s; its last lines:\n${h.tail}`);
    for (const d of [...cut, ...badDrains])
      console.log(`${d.name}'s drain exited ${d.code}; its last lines:\n${d.tail}`);
    if (refusals.length > 0) {
      console.log(`never acknowledged:\n${refusals.slice(0, 10).join('\n')}`);
      // and what the gateways warned of, the last 60 lines each
      for (const g of gateways) {
        const w = warnings(g);
        console.log(`${g.name} warnings (${w.length}):\n${w.slice(-60).join('\n')}`);
      }
    }
    // what a lost order looks like in the view, so a failure says where it stopped
    for (const id of pending.slice(0, 5)) {
      const res = await fetch(api(liveGateway(), `/future/shipment/${id}`), {
        headers,
        signal: AbortSignal.timeout(15_000),
      }).catch(() => null);
      const kind = placed.find((p) => p.id === id)?.kind;
      console.log(`lost ${id} (${kind}):`, res ? `${res.status} ${await res.text()}` : 'no answer');
    }
    // the table last, and the refusals in the assertion's own message: CI keeps the output's tail
    if (overran) rows.unshift(['overran', overran]);
    console.log(
      `\nchaos, three brokers, two instances of every stage, two gateways, transactions per ${config.TRANSACTION_SCOPE}:\n${rows.map(([k, v]) => `${k.padEnd(15)} ${v}`).join('\n')}`,
    );

    expect(overran, 'the load and the faults must end within their bound').toBeUndefined();
    expect(twice).toBe(0);
    expect(chainQueued.twice, 'a notification of the chain on its send queue twice').toBe(0);
    expect(lost).toBe(0);
    expect([...deadLetters], 'records dead-lettered under the faults').toEqual([]);
    expect(refused, `never acknowledged:\n${refusals.slice(0, 5).join('\n')}\nfaults:\n${faults.join('\n')}`).toBe(0);
    expect(answered4xx).toEqual([]);
    expect(inDoubt).toBeLessThanOrEqual(inDoubtBound);
    expect(otherFailures).toEqual([]);
    expect(composedWrong, 'a composed email at the sink without its file').toEqual([]);
    expect(longestStall).toBeLessThanOrEqual(60_000);
    expect(badDrains.map((d) => `${d.name} exited ${d.code}`)).toEqual([]);
  });
});

/** the shortest time an outcome's write is tried for (RECORD_RETRY's delays, each at its least) */
function recordRetryShortestMs(): number {
  const policy = { ...defaultBackoff, ...RECORD_RETRY };
  let ms = 0;
  for (let attempt = 1; attempt < RECORD_RETRY.maxAttempts; attempt++) ms += backoffDelay(attempt, policy, () => 0);
  return ms;
}
