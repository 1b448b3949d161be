/**
 * The gateway process: the order and status API on GATEWAY_PORT.
 *   node --import tsx gateway/main.ts
 * Publishes orders to Kafka (acks=all) and reads the status view in Redis. It listens at once,
 * and takes orders once Kafka and the schema registry have answered (tried for as long as it
 * takes; meanwhile /health is 503 and other requests 503 NOT-00004). SIGTERM stops
 * accepting connections (after GATEWAY_SHUTDOWN_DELAY_MS), finishes the requests in flight,
 * then closes its clients, all within SHUTDOWN_TIMEOUT_MS.
 */
import { createServer, type RequestListener } from 'node:http';
import { ConfigError, loadConfig } from '../platform/config.ts';
import { KafkaAdapter, kafkaConnection } from '../platform/kafka/adapter.ts';
import { BatchingPublisher } from '../platform/kafka/batching.ts';
import { createLogger, drainOnStop, exitOnUnhandled } from '../platform/logger.ts';
import { createRegistry, dependencyObserver, kafkaRequestMetrics, replicaWaitMetrics } from '../platform/metrics.ts';
import { provision } from '../platform/provision.ts';
import { createRedis, redisConnection, type Redis } from '../platform/redis/client.ts';
import { settledWithin, startupSteps } from '../platform/retry.ts';
import { EgressGuard } from '../platform/http/egress.ts';
import { DeliveryRefs } from '../platform/redis/delivery-refs.ts';
import { checkReplicas, ReplicaWait } from '../platform/redis/replica-wait.ts';
import { ScheduleStore } from '../platform/redis/schedule-store.ts';
import { RegistryClient } from '../platform/registry/client.ts';
import { AvroCodec } from '../platform/schemas/codec.ts';
import { ViewStore } from '../platform/view/store.ts';
import { createGateway } from './app.ts';
import { loadAccessTokenIssuers, loadVerificationKey } from './auth.ts';
import { IdempotencyStore } from './orders/idempotency.ts';
import { PROBLEMS } from './problems.ts';
import { instantPublisher } from './orders/instant-publisher.ts';

const logger = createLogger({ name: 'gateway' });
exitOnUnhandled(logger);

async function main(): Promise<void> {
  const config = loadConfig();
  const redisAt = redisConnection(config, 'the gateway');
  if (!config.REGISTRY_URL) throw new Error('REGISTRY_URL is required by the gateway');
  const auth = {
    jwksUrl: config.AUTH_JWKS_URL,
    publicKeyFile: config.AUTH_PUBLIC_KEY_FILE,
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    maxLifetimeSeconds: config.AUTH_MAX_TOKEN_LIFETIME_S,
  };
  const key = await loadVerificationKey(auth);
  const accessTokenIssuers = await loadAccessTokenIssuers(config.ACCESS_TOKEN_ISSUERS_DIR);
  const metrics = createRegistry();
  const kafka = new KafkaAdapter({
    ...kafkaConnection(config),
    clientId: `${config.KAFKA_CLIENT_ID}-gateway`,
    logger,
    onRequest: kafkaRequestMetrics(metrics),
  });
  const codec = new AvroCodec(config.SCHEMA_REGISTRY_URL, config.TOPIC_PREFIX);

  // The server first: while the gateway starts (Kafka or the schema registry may be away: a
  // broker restart, a rolling upgrade, an outage), it answers /health 503 and /health/live 200
  // while its tries keep ending (startupSteps, within STAGE_STALL_LIMIT_MS), and any other
  // request 503 NOT-00004; it takes orders once it has what they need.
  // (a configuration the cluster cannot hold is not going to change by waiting)
  const startup = startupSteps(logger, (err) => err instanceof ConfigError);
  let handler: RequestListener = startingAnswer(startup.health(config.STAGE_STALL_LIMIT_MS));
  const server = createServer(
    {
      // a request not received whole in time is answered 408; Node looks for such requests
      // every connectionsCheckingInterval (30 s of its own, too coarse for the bound)
      requestTimeout: config.GATEWAY_REQUEST_TIMEOUT_MS,
      headersTimeout: Math.min(60_000, config.GATEWAY_REQUEST_TIMEOUT_MS),
      connectionsCheckingInterval: Math.min(1_000, config.GATEWAY_REQUEST_TIMEOUT_MS / 2),
    },
    (req, res) => handler(req, res),
  );
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.GATEWAY_PORT, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.GATEWAY_PORT;

  await startup.step('provisioning topics and schemas', () => provision(kafka, codec, config));
  // Orders: an idempotent acks=all producer. A transaction per batch would make a 503 mean
  // "nothing stored" here too, but halved the gateway's throughput (1,200 instead of 2,300
  // orders/s in the gateway bench); order chains are safe to retry instead (derived ids).
  const producer = await startup.step('connecting the order producer', () => kafka.plainProducer());
  // Instant orders: transactional producers of their own (see instant-publisher.ts)
  const instant = instantPublisher(kafka, logger, {
    producers: config.INSTANT_PRODUCERS,
    idBase: `${config.KAFKA_CLIENT_ID}-gateway-instant`,
    topicPrefix: config.TOPIC_PREFIX,
  });
  const redis = createRedis(redisAt, logger);
  const prefix = config.REDIS_PREFIX ?? config.TOPIC_PREFIX;
  // With REDIS_WAIT_REPLICAS, a cancellation is answered and an idempotency claim used only once
  // the replicas hold it, each on a connection of its own (a WAIT holds its connection); the
  // gateway's view writes are written again by the stages from Kafka.
  if (config.REDIS_WAIT_REPLICAS > 0) void checkReplicas(redis, config.REDIS_WAIT_REPLICAS, logger);
  const extraConnections: Redis[] = [];
  const waitsFor = (use: 'schedule' | 'idempotency', what: string) => {
    const waits = replicaWaitMetrics(metrics).waits;
    for (const outcome of ['held', 'short', 'failed'] as const) waits.labels({ use, outcome }).inc(0);
    if (config.REDIS_WAIT_REPLICAS <= 0) return undefined;
    const connection = createRedis(redisAt, logger);
    extraConnections.push(connection);
    return new ReplicaWait(connection, config.REDIS_WAIT_REPLICAS, config.REDIS_REPLICA_WAIT_MS, what, (outcome) =>
      waits.labels({ use, outcome }).inc(),
    );
  };
  const cancels = waitsFor('schedule', 'schedule store');
  const claims = waitsFor('idempotency', 'idempotency');
  const idempotency = new IdempotencyStore(
    redis,
    prefix,
    config.IDEMPOTENCY_LEASE_MS,
    config.IDEMPOTENCY_RETENTION_S * 1000,
    claims,
  );
  let closing = false;
  const app = createGateway({
    producer: new BatchingPublisher(producer, { timeoutMs: 10_000 }),
    kafka,
    instantProducer: instant.publisher,
    codec,
    topicPrefix: config.TOPIC_PREFIX,
    redis,
    view: new ViewStore(redis, prefix, config.VIEW_RETENTION_S * 1000),
    schedule: new ScheduleStore(redis, `${prefix}orders:`, cancels),
    idempotency,
    registry: new RegistryClient({
      baseUrl: config.REGISTRY_URL,
      timeoutMs: config.REGISTRY_TIMEOUT_MS,
      breakerThreshold: config.REGISTRY_BREAKER_THRESHOLD,
      breakerHalfOpenAfterMs: config.REGISTRY_BREAKER_HALF_OPEN_MS,
      observe: dependencyObserver(metrics, 'registry'),
    }),
    key,
    accessTokenIssuers,
    auth,
    logger,
    metrics,
    clock: () => Date.now(),
    baseUrl: config.GATEWAY_BASE_URL ?? `http://localhost:${config.GATEWAY_PORT}`,
    defaults: { emailFrom: config.DEFAULT_EMAIL_FROM, smsSender: config.DEFAULT_SMS_SENDER },
    rateLimitPerSecond: config.RATE_LIMIT_PER_SECOND,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    idempotencyWaitMs: config.IDEMPOTENCY_WAIT_MS,
    feedVisibilityDelayMs: config.FEED_VISIBILITY_DELAY_MS,
    attachmentHosts: config.ATTACHMENT_HOSTS,
    egress: new EgressGuard({ allowLoopback: config.EGRESS_ALLOW_LOOPBACK, allowPrivate: config.EGRESS_ALLOW_PRIVATE }),
    health: () => ({ ok: !closing && redis.status === 'ready', redis: redis.status, closing }),
    ...(config.METRICS_API_KEY ? { metricsApiKey: config.METRICS_API_KEY } : {}),
    ...(config.METRICS_ENVIRONMENT ? { metricsEnvironment: config.METRICS_ENVIRONMENT } : {}),
    dailyExports: {
      concurrency: config.DAILY_EXPORT_CONCURRENCY,
      queue: config.DAILY_EXPORT_QUEUE,
      store: {
        redis: redisAt,
        prefix,
        heapMb: config.DAILY_EXPORT_HEAP_MB,
      },
    },
    ...(config.EMAIL_REPORT_ACCESS_KEY
      ? {
          emailReports: {
            accessKey: config.EMAIL_REPORT_ACCESS_KEY,
            refs: new DeliveryRefs(redis, `${prefix}email-`, config.SEND_LEDGER_TTL_S),
          },
        }
      : {}),
  });
  handler = (req, res) => {
    // (a gateway told to stop closes each connection after its answer, so a client's next
    // request goes where the load balancer now sends it)
    if (closing) res.setHeader('Connection', 'close');
    app(req, res);
  };

  // The drain has SHUTDOWN_TIMEOUT_MS, as a stage process's has (Kubernetes' grace period is set
  // above it). New requests are taken for GATEWAY_SHUTDOWN_DELAY_MS (/health answers 503
  // meanwhile), while a load balancer stops sending them here; of the time left after it,
  // requests under way have the first half, the idempotency writes Redis refused once until
  // three quarters, the clients' close until nine tenths; a drain still not done at the bound (a
  // client that never answered), or stopped again, exits DRAIN_CUT_EXIT_CODE (drainOnStop).
  drainOnStop(logger, config.SHUTDOWN_TIMEOUT_MS, (signal) => {
    closing = true;
    logger.info({ signal, delayMs: config.GATEWAY_SHUTDOWN_DELAY_MS }, 'gateway draining');
    const bound = config.SHUTDOWN_TIMEOUT_MS - config.GATEWAY_SHUTDOWN_DELAY_MS;
    setTimeout(() => {
      const began = Date.now();
      // A request still open at half the bound (a client that stopped sending its body, or one
      // waiting on a dependency that does not answer) has its connection cut: its client tries
      // again, with the same idempotencyId, on another gateway. Without the cut, a request still
      // being received would hold the drain up to GATEWAY_REQUEST_TIMEOUT_MS, and one waiting on
      // a dependency as long as that takes.
      const cut = setTimeout(() => {
        logger.warn('requests still open at half the drain bound; their connections are cut');
        server.closeAllConnections();
      }, bound * 0.5);
      cut.unref();
      server.close(() => {
        clearTimeout(cut);
        void (async () => {
          // idempotency writes Redis refused once are tried again before the clients close
          const left = await idempotency.drain(Math.max(0, began + bound * 0.75 - Date.now()));
          if (left > 0) logger.warn({ left }, 'idempotency finishes and give-backs left undone at shutdown');
          const clients = Promise.all([producer.close(), instant.close()]).then(() => kafka.close());
          if (!(await settledWithin(clients, began + bound * 0.9 - Date.now())))
            logger.warn('the Kafka clients did not close in time; exiting');
          redis.disconnect();
          for (const c of extraConnections) c.disconnect();
          logger.info('gateway stopped');
          process.exit(0);
        })();
      });
      server.closeIdleConnections();
      logger.info('gateway no longer takes connections');
    }, config.GATEWAY_SHUTDOWN_DELAY_MS);
  });
  // (said once a stop would drain: before the handler exists, SIGTERM's default ends the process
  // at once, and whoever read this line may already be stopping it)
  logger.info({ port }, 'gateway listening');
}

/** What a gateway still starting answers: its health, and 503 NOT-00004 to any other request. */
function startingAnswer(health: { ready: () => { ok: boolean }; live: () => { ok: boolean } }): RequestListener {
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/health' || path === '/health/live') {
      const h = path === '/health' ? health.ready() : health.live();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h));
      return;
    }
    res
      .writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '5', connection: 'close' })
      .end(JSON.stringify(PROBLEMS.dependencyUnavailable));
  };
}

main().catch((err: unknown) => {
  logger.fatal({ err }, 'gateway failed to start');
  process.exit(1);
});
