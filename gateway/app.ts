import express, { type Request, type Response } from 'express';
import { Gauge, type Registry } from 'prom-client';
import type { EgressGuard } from '../platform/http/egress.ts';
import { DEFAULT_ATTACHMENT_HOSTS } from '../platform/validation/attachments.ts';
import type { KafkaAdapter, PlainProducer } from '../platform/kafka/adapter.ts';
import type { Logger } from '../platform/logger.ts';
import type { Redis } from '../platform/redis/client.ts';
import type { DeliveryRefs } from '../platform/redis/delivery-refs.ts';
import type { ScheduleStore } from '../platform/redis/schedule-store.ts';
import type { RegistryClient } from '../platform/registry/client.ts';
import type { AvroCodec } from '../platform/schemas/codec.ts';
import type { ViewStore } from '../platform/view/store.ts';
import { authenticate, type AuthOptions, type loadAccessTokenIssuers, type loadVerificationKey } from './auth.ts';
import { errorHandler } from './http/errors.ts';
import { deliveryMetric } from '../platform/metrics.ts';
import { requestMetrics } from './http/observe.ts';
import { rateLimit } from './http/rate-limit.ts';
import { IdempotentRequests } from './orders/claim.ts';
import type { IdempotencyStore } from './orders/idempotency.ts';
import type { Defaults } from './orders/map.ts';
import { orderPublisher } from './orders/publish.ts';
import { sendProblem } from './problems.ts';
import { listRoutes, methodNotAllowed } from './routes.ts';
import { emailReportsRouter } from './routers/email-reports.ts';
import { instantRouter } from './routers/instant.ts';
import type { InstantProducer } from './orders/instant-publisher.ts';
import { openRouter } from './routers/open.ts';
import { orderChainsRouter } from './routers/order-chains.ts';
import { readsRouter } from './routers/reads.ts';
import { dashboardRouter } from './routers/dashboard.ts';
import { testsRouter } from './routers/tests.ts';
import { metricsRouter } from './routers/metrics.ts';
import { Slots } from './http/slots.ts';
import { type ExportStore, exportInWorker } from './daily-metrics.ts';
import { v1OrdersRouter } from './routers/v1-orders.ts';

export interface GatewayDeps {
  producer: Pick<PlainProducer, 'send'>;
  /** reads the orders topic when a claim is taken over (did its gone holder write it?) */
  kafka: Pick<KafkaAdapter, 'readSince'>;
  /** sends instant orders' records (order, notification, statuses) in one Kafka transaction */
  instantProducer: InstantProducer;
  codec: AvroCodec;
  topicPrefix: string;
  redis: Redis;
  view: ViewStore;
  schedule: ScheduleStore;
  idempotency: IdempotencyStore;
  registry: RegistryClient;
  key: Awaited<ReturnType<typeof loadVerificationKey>>;
  auth: AuthOptions;
  /** Platform Access Token issuers and their keys (none: such tokens are refused) */
  accessTokenIssuers?: Awaited<ReturnType<typeof loadAccessTokenIssuers>>;
  logger: Logger;
  metrics: Registry;
  clock: () => number;
  baseUrl: string;
  defaults: Defaults;
  rateLimitPerSecond: number;
  bodyLimitBytes: number;
  idempotencyWaitMs: number;
  feedVisibilityDelayMs: number;
  health: () => { ok: boolean; [k: string]: unknown };
  /** the egress policy condition endpoints are checked against at order time */
  egress: EgressGuard;
  /** the storage hosts a composed email's SAS URLs may name (ATTACHMENT_HOSTS; default Azure Blob Storage's) */
  attachmentHosts?: readonly string[];
  /** the `X-API-Key` the monthly metrics page and the daily exports ask for (none: they refuse every request) */
  metricsApiKey?: string;
  /** the daily metrics exports' environment name (METRICS_ENVIRONMENT) */
  metricsEnvironment?: string;
  /**
   * the daily exports: how many are built at once and wait for a turn (DAILY_EXPORT_CONCURRENCY,
   * DAILY_EXPORT_QUEUE), and where their workers read the view
   */
  dailyExports: { concurrency: number; queue: number; store: ExportStore };
  /** the email delivery report webhook: off when no access key is configured */
  emailReports?: { accessKey: string; refs: DeliveryRefs };
}

export const API_BASE = '/notifications/api/v1';

/**
 * The gateway: one router per resource (`routers/`), each with its own dependencies, composed
 * here behind authentication and the per-creator rate limit; then 405 for a method a path lacks,
 * 404, and one error handler.
 */
export function createGateway(deps: GatewayDeps) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('json spaces', 2);
  const log = deps.logger.child({ component: 'gateway' });
  const apiUrl = `${deps.baseUrl}${API_BASE}`;
  const orders = orderPublisher({
    producer: deps.producer,
    reader: deps.kafka,
    codec: deps.codec,
    topicPrefix: deps.topicPrefix,
    view: deps.view,
    log,
  });
  const requests = new IdempotentRequests({
    idempotency: deps.idempotency,
    clock: deps.clock,
    waitMs: deps.idempotencyWaitMs,
    log,
  });
  new Gauge({
    name: 'gateway_idempotency_retrying',
    help: 'Idempotency keys whose finish or give-back Redis refused, or a replica does not hold yet (REDIS_WAIT_REPLICAS), tried again every second until done or their lease ends',
    registers: [deps.metrics],
    collect() {
      this.set(deps.idempotency.waiting);
    },
  });
  const common = { clock: deps.clock, bodyLimitBytes: deps.bodyLimitBytes };

  app.use(requestMetrics(deps.metrics, () => listRoutes(app)));
  app.use(openRouter({ health: deps.health, metrics: deps.metrics }));
  // the reference's stub condition endpoint: under the API's base, without its token
  app.use(API_BASE, testsRouter());
  // the monthly metrics page and the daily exports: their own key (X-API-Key), not the API's token
  app.use(
    API_BASE,
    metricsRouter({
      view: deps.view,
      clock: deps.clock,
      ...(deps.metricsApiKey ? { apiKey: deps.metricsApiKey } : {}),
      ...(deps.metricsEnvironment ? { environment: deps.metricsEnvironment } : {}),
      exports: new Slots(deps.dailyExports.concurrency, deps.dailyExports.queue),
      exportDay: exportInWorker(deps.dailyExports.store),
      metrics: deps.metrics,
      log,
    }),
  );

  const api = express.Router();
  api.use(
    authenticate(deps.key, deps.auth, deps.accessTokenIssuers),
    rateLimit({
      redis: deps.redis,
      keyPrefix: `${deps.topicPrefix}ratelimit`,
      perSecond: deps.rateLimitPerSecond,
      log,
    }),
  );
  api.use(
    orderChainsRouter({
      ...common,
      orders,
      requests,
      registry: deps.registry,
      egress: deps.egress,
      attachmentHosts: deps.attachmentHosts ?? DEFAULT_ATTACHMENT_HOSTS,
      defaults: deps.defaults,
      apiUrl,
    }),
  );
  api.use(v1OrdersRouter({ ...common, orders, requests, registry: deps.registry, defaults: deps.defaults, apiUrl }));
  api.use(
    readsRouter({
      view: deps.view,
      schedule: deps.schedule,
      producer: deps.producer,
      codec: deps.codec,
      topicPrefix: deps.topicPrefix,
      clock: deps.clock,
      baseUrl: deps.baseUrl,
      feedVisibilityDelayMs: deps.feedVisibilityDelayMs,
      log,
    }),
  );
  api.use(dashboardRouter({ view: deps.view, clock: deps.clock }));
  api.use(
    instantRouter({
      ...common,
      producer: deps.instantProducer,
      codec: deps.codec,
      topicPrefix: deps.topicPrefix,
      view: deps.view,
      requests,
      defaults: deps.defaults,
      log,
    }),
  );
  app.use(API_BASE, api);
  app.use(
    emailReportsRouter({
      ...(deps.emailReports ? { config: deps.emailReports } : {}),
      producer: deps.producer,
      codec: deps.codec,
      topicPrefix: deps.topicPrefix,
      clock: deps.clock,
      delivered: deliveryMetric(deps.metrics, 'email', deps.clock),
    }),
  );

  app.use(methodNotAllowed(app));
  app.use((_req: Request, res: Response) => sendProblem(res, { status: 404, title: 'Not Found' }));
  app.use(errorHandler({ bodyLimitBytes: deps.bodyLimitBytes, log }));
  return app;
}
