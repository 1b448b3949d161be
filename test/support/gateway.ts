import { generateKeyPairSync } from 'node:crypto';
import { importSPKI } from 'jose';
import { createGateway } from '../../gateway/app.ts';
import { mintAccessToken, mintToken } from '../../gateway/local-tokens.ts';
import { IdempotencyStore } from '../../gateway/orders/idempotency.ts';
import { BatchingPublisher } from '../../platform/kafka/batching.ts';
import type { PlainProducer } from '../../platform/kafka/adapter.ts';
import { instantPublisher, type InstantProducer } from '../../gateway/orders/instant-publisher.ts';
import { createRegistry } from '../../platform/metrics.ts';
import { provision } from '../../platform/provision.ts';
import type { Redis } from '../../platform/redis/client.ts';
import type { ReplicaWait } from '../../platform/redis/replica-wait.ts';
import { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import { RegistryClient } from '../../platform/registry/client.ts';
import { ViewStore } from '../../platform/view/store.ts';
import { DeliveryRefs } from '../../platform/redis/delivery-refs.ts';
import { EgressGuard } from '../../platform/http/egress.ts';

export const EMAIL_REPORT_KEY = 'test-report-access-key-0123';
/** the test gateway's monthly metrics key (X-API-Key) */
export const METRICS_KEY = 'test-metrics-api-key-0123';
import { listenOnFreePort } from './listen.ts';
import { stackEnv, testClients, testConfig, uniquePrefix, testRedis } from './stack.ts';

/**
 * The gateway in this process, on a free port, against the real stack (Kafka, registry,
 * Redis, registry simulator) under a prefix of its own, with a key pair made for the test.
 */
export async function startTestGateway(
  label: string,
  options: {
    rateLimitPerSecond?: number;
    feedVisibilityDelayMs?: number;
    clock?: () => number;
    prefix?: string;
    /** false: register the schemas but create no topic, so every publish fails at the broker */
    provisionTopics?: boolean;
    /** the condition endpoint policy (default: loopback allowed, as the tests' endpoints are local) */
    strictEgress?: boolean;
    publishTimeoutMs?: number;
    /** the registry the gateway asks (default: the stack's registry simulator) */
    registryUrl?: string;
    bodyLimitBytes?: number;
    /** the monthly metrics page's key (default METRICS_KEY; null: none configured) */
    metricsApiKey?: string | null;
    /** wraps the gateway's instant producer (to make it die mid-request, say) */
    instantProducer?: (p: InstantProducer) => InstantProducer;
    /** wraps the gateway's plain producer: order chains, v1 orders, cancels (to make it die mid-request, say) */
    ordersProducer?: (p: Pick<PlainProducer, 'send'>) => Pick<PlainProducer, 'send'>;
    /** the storage hosts composed emails' SAS URLs may name (default Azure Blob Storage's) */
    attachmentHosts?: string[];
    /** the daily exports' worker heap, MB (default 256) */
    exportHeapMb?: number;
    /** what cancellations wait for (REDIS_WAIT_REPLICAS), given the gateway's Redis (default: none) */
    cancelReplicas?: (redis: Redis) => ReplicaWait;
    /** wraps the gateway's idempotency store (to make its writes fail, say) */
    idempotency?: (store: IdempotencyStore) => IdempotencyStore;
  } = {},
) {
  const env = stackEnv();
  const prefix = options.prefix ?? uniquePrefix(label);
  const config = testConfig(prefix, { REGISTRY_URL: env.REGISTRY_URL });
  const { kafka, codec, logger } = testClients(config);
  if (options.provisionTopics === false) await codec.register();
  else await provision(kafka, codec, config);
  const producer = await kafka.plainProducer();
  const batching = new BatchingPublisher(producer, { timeoutMs: options.publishTimeoutMs ?? 10_000 });
  // the gateway's own wiring of its instant producers (INSTANT_PRODUCERS of them), all ready
  const instant = instantPublisher(kafka, logger, {
    producers: config.INSTANT_PRODUCERS,
    idBase: `test-gateway-${prefix}`,
    topicPrefix: prefix,
    timeoutMs: options.publishTimeoutMs ?? 10_000,
  });
  if (!(await instant.started).every(Boolean)) throw new Error('the test gateway’s instant producers did not start');
  const redis = testRedis();
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privatePem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const view = new ViewStore(redis, prefix, undefined, true, options.clock ?? Date.now);
  const schedule = new ScheduleStore(redis, `${prefix}orders:`, options.cancelReplicas?.(redis));
  const app = createGateway({
    producer: options.ordersProducer?.(batching) ?? batching,
    kafka,
    instantProducer: options.instantProducer?.(instant.publisher) ?? instant.publisher,
    codec,
    topicPrefix: prefix,
    redis,
    view,
    schedule,
    idempotency: (options.idempotency ?? ((s) => s))(new IdempotencyStore(redis, prefix, 2_000)),
    registry: new RegistryClient({
      baseUrl: options.registryUrl ?? env.REGISTRY_URL,
      timeoutMs: 2_000,
      breakerThreshold: 1_000,
      breakerHalfOpenAfterMs: 100,
    }),
    key: await importSPKI(publicPem, 'RS256'),
    auth: {},
    // platform apps of 'digdir' sign their access tokens with the test's key too
    accessTokenIssuers: new Map([['digdir', await importSPKI(publicPem, 'RS256')]]),
    logger,
    metrics: createRegistry(false),
    clock: options.clock ?? Date.now,
    baseUrl: 'http://gateway.test',
    defaults: { emailFrom: 'noreply@altinn.cloud', smsSender: 'Altinn' },
    rateLimitPerSecond: options.rateLimitPerSecond ?? 100_000,
    bodyLimitBytes: options.bodyLimitBytes ?? 64 * 1024,
    idempotencyWaitMs: 5_000,
    feedVisibilityDelayMs: options.feedVisibilityDelayMs ?? 0,
    health: () => ({ ok: true }),
    egress: new EgressGuard({ allowLoopback: !options.strictEgress, allowPrivate: false }),
    ...(options.attachmentHosts ? { attachmentHosts: options.attachmentHosts } : {}),
    emailReports: { accessKey: EMAIL_REPORT_KEY, refs: new DeliveryRefs(redis, `${prefix}email-`, 3600) },
    ...(options.metricsApiKey === null ? {} : { metricsApiKey: options.metricsApiKey ?? METRICS_KEY }),
    dailyExports: {
      concurrency: 1,
      queue: 4,
      store: {
        redis: {
          url: env.REDIS_URL,
          ...(process.env.REDIS_TLS_CA_FILE ? { tlsCaFile: process.env.REDIS_TLS_CA_FILE } : {}),
        },
        prefix,
        heapMb: options.exportHeapMb ?? 256,
      },
    },
  });
  const { server, port } = await listenOnFreePort(app);
  const url = `http://127.0.0.1:${port}/notifications/api/v1`;
  const tokens = new Map<string, string>();
  /** a token for `org` (null: no org claim) with `scope` */
  const token = async (org: string | null = 'ttd', scope = 'altinn:serviceowner/notifications.create') => {
    const k = `${org}|${scope}`;
    if (!tokens.has(k)) tokens.set(k, await mintToken(privatePem, { org: org ?? undefined, scope }));
    return tokens.get(k)!;
  };
  /** a request as org `as` (default ttd); JSON in and out */
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    as: { org?: string; scope?: string; headers?: Record<string, string> } = {},
  ) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await token(as.org ?? 'ttd', as.scope)}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...as.headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, body: json as Record<string, unknown> & unknown[] };
  };
  return {
    app,
    prefix,
    config,
    kafka,
    codec,
    redis,
    view,
    schedule,
    refs: new DeliveryRefs(redis, `${prefix}email-`, 3600),
    url,
    root: url.replace('/notifications/api/v1', ''),
    token,
    /** a Platform Access Token issued by `issuer` */
    accessToken: (issuer: string) => mintAccessToken(privatePem, issuer),
    privatePem,
    call,
    async close() {
      await new Promise((r) => server.close(r));
      await producer.close();
      await instant.close();
      await kafka.close();
      redis.disconnect();
    },
  };
}

export type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

/** A valid v2 order chain request for an email address, with overrides merged on top. */
export function emailChain(idempotencyId: string, overrides: Record<string, unknown> = {}) {
  return {
    idempotencyId,
    sendersReference: 'ref-1',
    recipient: {
      recipientEmail: {
        emailAddress: 'ola.normann@example.com',
        emailSettings: { subject: 'Hei', body: 'Dette er en test', contentType: 'Plain', sendingTimePolicy: 'Anytime' },
      },
    },
    ...overrides,
  };
}
