import { isUtf8 } from 'node:buffer';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import swaggerUi from 'swagger-ui-dist';
import { PipelineError } from '../platform/errors.ts';
import type { OutboundRecord, PlainProducer } from '../platform/kafka/adapter.ts';
import type { Logger } from '../platform/logger.ts';
import type { Redis } from '../platform/redis/client.ts';
import type { ScheduleStore } from '../platform/redis/schedule-store.ts';
import type { EgressGuard } from '../platform/http/egress.ts';
import type { DeliveryRefs } from '../platform/redis/delivery-refs.ts';
import type { RegistryClient } from '../platform/registry/client.ts';
import type { AvroCodec } from '../platform/schemas/codec.ts';
import type { NotificationOrder } from '../platform/schemas/generated/order.ts';
import type { StatusEvent } from '../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../platform/status.ts';
import { topicName } from '../platform/topics.ts';
import { DISPATCHED_HEADER } from '../platform/validation/order-record.ts';
import { normaliseMobileNumber } from '../platform/validation/rules.ts';
import type { ViewStore } from '../platform/view/store.ts';
import { authenticate, type AuthOptions, type loadAccessTokenIssuers, type loadVerificationKey } from './auth.ts';
import type { IdempotencyStore } from './orders/idempotency.ts';
import { instantDispatch, type InstantDispatch } from './orders/instant.ts';
import { lookupRecipients, type LookupResult } from './orders/lookup.ts';
import { chainOrders, chainResponse, recipientOf, type Defaults } from './orders/map.ts';
import { openApiDocument } from './openapi.ts';
import { methodNotAllowed } from './routes.ts';
import { PROBLEMS, sendProblem, sendValidationProblem } from './problems.ts';
import { validateInstantEmail, validateInstantSms } from './validation/instant.ts';
import { validateOrderChain } from './validation/order-chain.ts';
import { validateV1EmailOrder, validateV1Order, validateV1SmsOrder, type V1Order } from './validation/v1.ts';
import {
  chainExt,
  feedEntryExt,
  notificationSummaryExt,
  orderExt,
  orderWithStatusExt,
  shipmentExt,
  type Links,
} from './views.ts';

export interface GatewayDeps {
  producer: Pick<PlainProducer, 'send'>;
  /** sends instant orders' records (order, notification, statuses) in one Kafka transaction */
  instantProducer: Pick<PlainProducer, 'send'>;
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
  /** the email delivery report webhook: off when no access key is configured */
  emailReports?: { accessKey: string; refs: DeliveryRefs };
}

const BASE = '/notifications/api/v1';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CANCEL_MARGIN_MS = 5 * 60 * 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The v1 order as the pipeline's order record. */
function v1OrderRecord(v: V1Order, creator: string, now: number, d: Defaults): NotificationOrder {
  return {
    orderId: randomUUID(),
    orderChainId: randomUUID(),
    type: 'Notification',
    creator,
    idempotencyId: null,
    sendersReference: v.sendersReference,
    requestedSendTime: v.requestedSendTime,
    created: now,
    notificationChannel: v.notificationChannel,
    // v1 SMS were always held to the daytime window
    sendingTimePolicy: v.smsTemplate ? 'Daytime' : 'Anytime',
    conditionEndpoint: v.conditionEndpoint,
    ignoreReservation: v.ignoreReservation,
    useStaleContactInformation: false,
    resourceId: v.resourceId,
    resourceAction: v.resourceAction,
    timeToLiveSeconds: null,
    emailTemplate: v.emailTemplate
      ? {
          ...v.emailTemplate,
          fromAddress: v.emailTemplate.fromAddress ?? d.emailFrom,
          subject: v.emailTemplate.subject.replace(/\r\n|\r|\n/g, ' '),
        }
      : null,
    smsTemplate: v.smsTemplate
      ? { senderNumber: v.smsTemplate.senderNumber ?? d.smsSender, body: v.smsTemplate.body }
      : null,
    recipients: v.recipients.map((r) =>
      recipientOf({
        emailAddress: r.emailAddress?.trim() || null,
        mobileNumber: r.mobileNumber ? normaliseMobileNumber(r.mobileNumber) : null,
        organizationNumber: r.organizationNumber || null,
        nationalIdentityNumber: r.nationalIdentityNumber || null,
        isReserved: r.isReserved,
      }),
    ),
    dialogportenAssociation: null,
  };
}

const lookupExt = (l: LookupResult) => ({
  status: l.status,
  isReserved: l.isReserved,
  missingContact: l.missingContact,
});

export function createGateway(deps: GatewayDeps) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('json spaces', 2);
  const links: Links = { base: deps.baseUrl };
  const log = deps.logger.child({ component: 'gateway' });

  const requests = new Counter({
    name: 'gateway_requests_total',
    help: 'HTTP requests answered, by route and status',
    labelNames: ['route', 'status'],
    registers: [deps.metrics],
  });
  const latency = new Histogram({
    name: 'gateway_request_seconds',
    help: 'Time to answer, by route',
    labelNames: ['route'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [deps.metrics],
  });
  app.use((req, res, next) => {
    const end = latency.startTimer();
    // 'close' comes for an answered request and for one the client hung up on (counted as 499)
    res.on('close', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      end({ route });
      requests.inc({ route, status: res.writableFinished ? String(res.statusCode) : '499' });
    });
    next();
  });

  const limiter = new RateLimiterRedis({
    storeClient: deps.redis,
    keyPrefix: `${deps.topicPrefix}ratelimit`,
    points: deps.rateLimitPerSecond,
    duration: 1,
    useRedisPackage: false,
  });
  const rateLimit = async (_req: Request, res: Response, next: NextFunction) => {
    try {
      await limiter.consume(res.locals.creator as string);
      next();
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil(err.msBeforeNext / 1000))));
        return sendProblem(res, {
          status: 429,
          title: 'Too Many Requests',
          detail: 'The rate limit for this organisation is exceeded.',
        });
      }
      // The limiter's store is unavailable: serve rather than refuse every sender.
      log.warn({ err }, 'rate limiter unavailable; request let through');
      next();
    }
  };

  const json = express.json({
    limit: deps.bodyLimitBytes,
    type: ['application/json', 'application/*+json'],
    strict: false,
    // JSON is UTF-8 (RFC 8259): bytes that are not are refused, as ASP.NET's reader does,
    // rather than read as U+FFFD.
    verify: (_req, _res, buf) => {
      if (!isUtf8(buf)) throw Object.assign(new Error('invalid UTF-8'), { type: 'entity.invalid.utf8' });
    },
  });
  const requireJson = (req: Request, res: Response, next: NextFunction) => {
    if (!req.is(['application/json', 'application/*+json'])) {
      return sendProblem(res, {
        status: 415,
        title: 'Unsupported Media Type',
        detail: 'The request body must be JSON (Content-Type: application/json).',
      });
    }
    next();
  };

  // ---- open endpoints ----
  app.get('/health', (_req, res) => {
    const h = deps.health();
    res.status(h.ok ? 200 : 503).json(h);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.contentType).send(await deps.metrics.metrics());
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(deps.baseUrl));
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send(`<!doctype html><html><head><meta charset="utf-8"><title>Notifications API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui' });</script></body></html>`);
  });
  app.use('/docs/assets', express.static(swaggerUi.getAbsoluteFSPath(), { index: false }));

  // ---- authenticated API ----
  const api = express.Router();
  api.use(authenticate(deps.key, deps.auth, deps.accessTokenIssuers), rateLimit);

  const publish = async (records: NotificationOrder[]) => {
    const topic = topicName(deps.topicPrefix, 'orders');
    const encoded = await Promise.all(
      records.map(async (o) => ({ topic, key: o.orderId, value: await deps.codec.encode('orders', o) })),
    );
    await deps.producer.send(encoded);
  };
  const remember = async (records: NotificationOrder[], now: number) => {
    // Read-your-writes: the order is readable at once; order-view writes the same (first wins).
    try {
      await Promise.all(records.map((o) => deps.view.putOrder(o, { status: 'Order_Registered', at: now })));
    } catch (err) {
      log.warn({ err }, 'status view not updated at order time; order-view will catch up');
    }
  };

  /**
   * Claims (creator, idempotencyId) for this request, or answers for it: 200 with the stored
   * body when the key is done; after taking over a claim whose request died, `republish` the
   * stored records first; 409 when another request still holds it past the wait.
   * Resolves true when this request holds the claim and must go on.
   */
  /**
   * The client hung up before its order was stored: stop there (nothing is published, the
   * idempotency claim is released, so a retry with the same idempotencyId starts afresh) and
   * answer 499 NOT-00002, for the logs and metrics, as the reference does. Once stored, an order
   * is finished and answered even if no one is listening (a replay then gets 200).
   */
  const hungUp = async (req: Request, res: Response, creator: string, idempotencyId?: string) => {
    if (!req.socket.destroyed) return false;
    if (idempotencyId) await deps.idempotency.release(creator, idempotencyId).catch(() => undefined);
    log.info({ path: req.path }, 'client hung up before the order was stored');
    sendProblem(res, PROBLEMS.requestTerminated);
    return true;
  };

  const claimOrReplay = async (
    res: Response,
    creator: string,
    idempotencyId: string,
    stored: string,
    body: unknown,
    republish: (stored: string) => Promise<() => Promise<void>>,
    replay: (res: Response, body: unknown) => void = (r, b) => void r.status(200).json(b),
  ): Promise<boolean> => {
    const deadline = deps.clock() + deps.idempotencyWaitMs;
    for (;;) {
      const claim = await deps.idempotency.claim(creator, idempotencyId, stored, body, deps.clock());
      if (claim.kind === 'claimed') return true;
      if (claim.kind === 'done') {
        replay(res, claim.body);
        return false;
      }
      if (claim.kind === 'takeover') {
        const after = await republish(claim.records);
        await deps.idempotency.finish(creator, idempotencyId);
        await after();
        replay(res, claim.body);
        return false;
      }
      if (deps.clock() > deadline) {
        res.setHeader('Retry-After', '1');
        sendProblem(res, {
          status: 409,
          title: 'Conflict',
          detail: 'An order with this idempotencyId is still being registered; retry shortly.',
        });
        return false;
      }
      await sleep(25);
    }
  };

  api.post('/future/orders', requireJson, json, async (req, res) => {
    const creator = res.locals.creator as string;
    const now = deps.clock();
    const v = validateOrderChain(req.body, now, deps.egress);
    if (!v.ok) return sendValidationProblem(res, v.errors);
    if (!headerKeyAgrees(req, res, v.value.idempotencyId)) return;
    const records = chainOrders(v.value, creator, now, deps.defaults);
    const body = chainResponse(records);
    const proceed = await claimOrReplay(
      res,
      creator,
      v.value.idempotencyId,
      JSON.stringify(records),
      body,
      async (stored) => {
        const original = JSON.parse(stored) as NotificationOrder[];
        await publish(original);
        return () => remember(original, now);
      },
    );
    if (!proceed) return;
    try {
      const needsLookup = records.some((o) => o.recipients.some((r) => !r.emailAddress && !r.mobileNumber));
      if (needsLookup) {
        const lookup = await lookupRecipients(deps.registry, records);
        if (lookup.missingContact.length > 0) {
          await deps.idempotency.release(creator, v.value.idempotencyId);
          return sendProblem(res, PROBLEMS.missingContact);
        }
      }
      if (await hungUp(req, res, creator, v.value.idempotencyId)) return;
      await publish(records);
    } catch (err) {
      await deps.idempotency.release(creator, v.value.idempotencyId).catch(() => undefined);
      throw err;
    }
    await Promise.all([deps.idempotency.finish(creator, v.value.idempotencyId), remember(records, now)]);
    res.status(201).location(`${deps.baseUrl}${BASE}/orders/chain/${body.notificationOrderId}`).json(body);
  });

  const v1Post =
    (validate: (b: unknown, now: number) => ReturnType<typeof validateV1Order>) =>
    async (req: Request, res: Response) => {
      const creator = res.locals.creator as string;
      const now = deps.clock();
      const key = idempotencyKeyOf(req, res);
      if (key === false) return;
      const v = validate(req.body, now);
      if (!v.ok) return sendValidationProblem(res, v.errors);
      const order = v1OrderRecord(v.value, creator, now, deps.defaults);
      const needsLookup = order.recipients.some((r) => !r.emailAddress && !r.mobileNumber);
      const lookup = needsLookup ? await lookupRecipients(deps.registry, [order]) : null;
      const body = { orderId: order.orderId, ...(lookup?.performed ? { recipientLookup: lookupExt(lookup) } : {}) };
      const accepted = (r: Response, b: unknown) =>
        void r
          .status(202)
          .location(`${deps.baseUrl}${BASE}/orders/${(b as typeof body).orderId}`)
          .json(b);
      // v1 has no idempotencyId: an Idempotency-Key header makes a retry safe (beyond the
      // reference), in a namespace of its own so it never meets a v2 idempotencyId.
      const claimKey = key === null ? null : `v1\n${key}`;
      if (claimKey !== null) {
        const proceed = await claimOrReplay(
          res,
          creator,
          claimKey,
          JSON.stringify([order]),
          body,
          async (stored) => {
            const original = JSON.parse(stored) as NotificationOrder[];
            await publish(original);
            return () => remember(original, now);
          },
          accepted,
        );
        if (!proceed) return;
      }
      try {
        if (await hungUp(req, res, creator, claimKey ?? undefined)) return;
        await publish([order]);
      } catch (err) {
        if (claimKey !== null) await deps.idempotency.release(creator, claimKey).catch(() => undefined);
        throw err;
      }
      await Promise.all([
        claimKey !== null ? deps.idempotency.finish(creator, claimKey) : null,
        remember([order], now),
      ]);
      accepted(res, body);
    };
  api.post('/orders', requireJson, json, v1Post(validateV1Order));
  api.post('/orders/email', requireJson, json, v1Post(validateV1EmailOrder));
  api.post('/orders/sms', requireJson, json, v1Post(validateV1SmsOrder));

  const notFound = (res: Response) =>
    sendProblem(res, { status: 404, title: 'Not Found', detail: 'No order with this id exists for the caller.' });
  const findOrder = async (req: Request, res: Response) => {
    const id = String(req.params.id);
    if (!GUID.test(id)) return null;
    return deps.view.get(id.toLowerCase(), res.locals.creator as string);
  };

  api.get('/orders', async (req, res) => {
    const ref = typeof req.query.sendersReference === 'string' ? req.query.sendersReference : '';
    if (!ref) return sendValidationProblem(res, { sendersReference: ['The sendersReference field is required.'] });
    const views = await deps.view.bySendersReference(res.locals.creator as string, ref);
    res.json({ count: views.length, orders: views.map((v) => orderExt(v, links)) });
  });
  // The Location of a new order chain (as the reference writes it): its main order and reminders.
  api.get('/orders/chain/:id', async (req, res) => {
    const id = String(req.params.id);
    const views = GUID.test(id) ? await deps.view.chain(id.toLowerCase(), res.locals.creator as string) : [];
    return views.length > 0
      ? res.json(chainExt(id.toLowerCase(), views))
      : sendProblem(res, {
          status: 404,
          title: 'Not Found',
          detail: 'No order chain with this id exists for the caller.',
        });
  });
  api.get('/orders/:id', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(orderExt(v, links)) : notFound(res);
  });
  api.get('/orders/:id/status', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(orderWithStatusExt(v, links)) : notFound(res);
  });
  api.get('/orders/:id/notifications/email', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(notificationSummaryExt(v, 'Email')) : notFound(res);
  });
  api.get('/orders/:id/notifications/sms', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(notificationSummaryExt(v, 'Sms')) : notFound(res);
  });

  api.put('/orders/:id/cancel', async (req, res) => {
    const v = await findOrder(req, res);
    if (!v) return notFound(res);
    if (v.status === 'Order_Cancelled') return res.json(orderWithStatusExt(v, links));
    const now = deps.clock();
    const prohibited = () =>
      sendProblem(res, {
        status: 409,
        title: 'Conflict',
        detail:
          'The order cannot be cancelled: processing has started or its send time is less than five minutes away.',
      });
    if (v.status !== 'Order_Registered' || v.order.requestedSendTime <= now + CANCEL_MARGIN_MS) return prohibited();
    const result = await deps.schedule.cancel(v.order.orderId, now);
    if (result === 'in-flight' || result === 'released') return prohibited();
    const event: StatusEvent = orderStatus(v.order, 'Order_Cancelled', now);
    await deps.producer.send([
      {
        topic: topicName(deps.topicPrefix, 'status'),
        key: v.order.orderId,
        value: await deps.codec.encode('status', event),
      },
    ]);
    await deps.view.apply(event, now);
    const after = await deps.view.get(v.order.orderId, res.locals.creator as string);
    res.json(orderWithStatusExt(after ?? v, links));
  });

  api.get('/future/shipment/feed', async (req, res) => {
    const seqRaw = req.query.seq === undefined ? '0' : String(req.query.seq);
    const seq = Number(seqRaw);
    if (!/^-?\d+$/.test(seqRaw)) return sendValidationProblem(res, { seq: [`The value '${seqRaw}' is not valid.`] });
    if (seq < 0) return sendValidationProblem(res, { Seq: ['Sequence number cannot be less than 0.'] });
    const sizeRaw = req.query.pageSize === undefined ? 500 : Number(req.query.pageSize);
    const pageSize = Number.isFinite(sizeRaw) ? Math.min(500, Math.max(1, Math.trunc(sizeRaw))) : 500;
    const orderBy = String(req.query.orderBy ?? 'asc').toLowerCase() === 'desc' ? 'desc' : 'asc';
    const entries = await deps.view.feed(res.locals.creator as string, {
      seq,
      pageSize,
      order: orderBy,
      visibleBefore: deps.clock() - deps.feedVisibilityDelayMs,
    });
    res.json(entries.map(feedEntryExt));
  });
  api.get('/future/shipment/:id', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(shipmentExt(v)) : sendProblem(res, PROBLEMS.shipmentNotFound);
  });

  const encodeInstant = async (d: InstantDispatch): Promise<OutboundRecord[]> => [
    {
      topic: topicName(deps.topicPrefix, 'orders'),
      key: d.order.orderId,
      value: await deps.codec.encode('orders', d.order),
      // tells the scheduler that this instant order's notification is written beside it
      headers: { [DISPATCHED_HEADER]: d.notification.value.notificationId },
    },
    d.notification.topic === 'smsQueue'
      ? {
          topic: topicName(deps.topicPrefix, 'smsQueue'),
          key: d.notification.value.notificationId,
          value: await deps.codec.encode('smsQueue', d.notification.value),
        }
      : {
          topic: topicName(deps.topicPrefix, 'emailQueue'),
          key: d.notification.value.notificationId,
          value: await deps.codec.encode('emailQueue', d.notification.value),
        },
    ...(await Promise.all(
      d.statuses.map(async (e) => ({
        topic: topicName(deps.topicPrefix, 'status'),
        key: e.orderId,
        value: await deps.codec.encode('status', e),
      })),
    )),
  ];
  const rememberInstant = async (d: InstantDispatch, now: number) => {
    try {
      await deps.view.putOrder(d.order, { status: 'Order_Processed', at: now });
      for (const e of d.statuses) await deps.view.apply(e, now);
    } catch (err) {
      log.warn({ err }, 'status view not updated for an instant order; status-view will catch up');
    }
  };
  // Instant orders skip the schedule and the send window: the order, its notification on the
  // send queue and their statuses go in one Kafka transaction, before the answer. If Kafka
  // cannot take them, the answer is 503 NOT-00004 and nothing is stored.
  const instant =
    (validate: (body: unknown) => ReturnType<typeof validateInstantSms>) => async (req: Request, res: Response) => {
      const creator = res.locals.creator as string;
      const now = deps.clock();
      const v = validate(req.body);
      if (!v.ok) return sendValidationProblem(res, v.errors);
      if (!headerKeyAgrees(req, res, v.value.idempotencyId)) return;
      const d = instantDispatch(v.value, creator, now, deps.defaults);
      const proceed = await claimOrReplay(
        res,
        creator,
        v.value.idempotencyId,
        JSON.stringify(d),
        d.response,
        async (stored) => {
          const original = JSON.parse(stored) as InstantDispatch;
          await deps.instantProducer.send(await encodeInstant(original));
          return () => rememberInstant(original, now);
        },
      );
      if (!proceed) return;
      if (await hungUp(req, res, creator, v.value.idempotencyId)) return;
      try {
        await deps.instantProducer.send(await encodeInstant(d));
      } catch (err) {
        await deps.idempotency.release(creator, v.value.idempotencyId).catch(() => undefined);
        log.warn({ err: describe(err) }, 'instant order not dispatched');
        return sendProblem(res, PROBLEMS.dependencyUnavailable);
      }
      await Promise.all([deps.idempotency.finish(creator, v.value.idempotencyId), rememberInstant(d, now)]);
      res.status(201).json(d.response);
    };
  api.post(
    '/future/orders/instant/sms',
    requireJson,
    json,
    instant((b) => validateInstantSms(b)),
  );
  api.post('/future/orders/instant/email', requireJson, json, instant(validateInstantEmail));
  // deprecated: the SMS recipient under recipient.recipientSms
  api.post(
    '/future/orders/instant',
    requireJson,
    json,
    instant((b) => validateInstantSms(b, true)),
  );

  app.use(BASE, api);

  // Email delivery reports (Azure Event Grid's shape, as the reference's K-era webhook):
  // `?accesskey=` must match; a subscription handshake is answered; each
  // EmailDeliveryReportReceived becomes a status event of its notification, found by the
  // Message-ID send-email recorded. Unknown ids answer 404 so the provider tries again later.
  // The key is checked before a byte of the body is read.
  const reportKey = (req: Request, res: Response, next: NextFunction) => {
    const cfg = deps.emailReports;
    if (!cfg) return sendProblem(res, { status: 404, title: 'Not Found' });
    const given = Buffer.from(String(req.query.accesskey ?? ''));
    const wanted = Buffer.from(cfg.accessKey);
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
      return void res.status(401).json({ error: 'Unauthorized client' });
    }
    next();
  };
  app.post(
    '/notifications/email/api/v1/reports',
    reportKey,
    express.json({
      limit: '1mb',
      type: () => true,
      verify: (_req, _res, buf) => {
        if (!isUtf8(buf)) throw Object.assign(new Error('invalid UTF-8'), { type: 'entity.invalid.utf8' });
      },
    }),
    async (req, res) => {
      const cfg = deps.emailReports!;
      const events = Array.isArray(req.body) ? (req.body as EventGridEvent[]) : [req.body as EventGridEvent];
      const validation = events.find((e) => e?.eventType === 'Microsoft.EventGrid.SubscriptionValidationEvent');
      if (validation) return res.json({ validationResponse: validation.data?.validationCode ?? '' });
      const out: OutboundRecord[] = [];
      const unknown: string[] = [];
      for (const e of events) {
        if (e?.eventType !== 'Microsoft.Communication.EmailDeliveryReportReceived') continue;
        const messageId = String(e.data?.messageId ?? '');
        const ref = messageId ? await cfg.refs.get(messageId) : null;
        if (!ref) {
          unknown.push(messageId);
          continue;
        }
        const event: StatusEvent = {
          ...orderStatus(
            { orderId: ref.orderId, creator: ref.creator },
            emailReportStatus(e.data?.status),
            deps.clock(),
          ),
          notificationId: ref.notificationId,
          channel: 'Email',
          destination: ref.destination,
          description: e.data?.deliveryStatusDetails?.statusMessage ?? null,
          gatewayReference: messageId,
          expiresAt: ref.expiresAt,
        };
        out.push({
          topic: topicName(deps.topicPrefix, 'status'),
          key: ref.orderId,
          value: await deps.codec.encode('status', event),
        });
      }
      if (out.length > 0) await deps.producer.send(out);
      if (unknown.length > 0) {
        return sendProblem(res, { status: 404, title: 'Not Found', detail: `unknown message ids: ${unknown.length}` });
      }
      res.status(200).json({ accepted: out.length });
    },
  );

  app.use(methodNotAllowed(app));
  app.use((_req: Request, res: Response) => sendProblem(res, { status: 404, title: 'Not Found' }));

  // Errors: a clear 4xx for what the client sent; 503 NOT-00004 when a dependency is down; a
  // bare 500 otherwise. No stack traces or internal names leave the process.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string; expose?: boolean };
    if (e.type === 'entity.too.large') {
      return sendProblem(res, {
        status: 413,
        title: 'Payload Too Large',
        detail: `The request body exceeds ${deps.bodyLimitBytes} bytes.`,
      });
    }
    if (e.type === 'entity.parse.failed') {
      return sendValidationProblem(res, { $: ['The request body is not valid JSON.'] });
    }
    if (e.type === 'entity.invalid.utf8') {
      return sendValidationProblem(res, { $: ['The request body is not valid UTF-8.'] });
    }
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      return sendProblem(res, { status: 415, title: 'Unsupported Media Type', detail: e.message ?? '' });
    }
    // Any other error of reading the body (a body that does not match its Content-Encoding, a
    // length that does not match, an aborted upload) is the client's: body-parser marks it as an
    // http-errors client error (status 4xx, expose), answered as such, never as a 500.
    if (e.expose === true && e.status === 400) {
      return sendValidationProblem(res, {
        $: ['The request body could not be read (check Content-Encoding and Content-Length).'],
      });
    }
    if (e.expose === true && typeof e.status === 'number' && e.status > 400 && e.status < 500) {
      return sendProblem(res, {
        status: e.status,
        title: 'Client Error',
        detail: 'The request body could not be read.',
      });
    }
    if (req.socket.destroyed) return;
    if ((err instanceof PipelineError && err.retriable) || isConnectionError(err)) {
      log.warn({ err: describe(err), path: req.path }, 'dependency unavailable');
      return sendProblem(res, PROBLEMS.dependencyUnavailable);
    }
    log.error({ err, path: req.path }, 'request failed');
    sendProblem(res, { status: 500, title: 'Internal Server Error', detail: 'An unexpected error occurred.' });
  });
  return app;
}

interface EventGridEvent {
  eventType?: string;
  data?: {
    validationCode?: string;
    messageId?: string;
    status?: string | null;
    deliveryStatusDetails?: { statusMessage?: string };
  };
}

/** Event Grid's email delivery status as the email lifecycle (reference §6.2 step 9). */
export function emailReportStatus(status: string | null | undefined): StatusEvent['status'] {
  switch (status) {
    case 'Delivered':
      return 'Email_Delivered';
    case 'Bounced':
      return 'Email_Failed_Bounced';
    case 'FilteredSpam':
      return 'Email_Failed_FilteredSpam';
    case 'Quarantined':
      return 'Email_Failed_Quarantined';
    case 'Suppressed':
      return 'Email_Failed_SuppressedRecipient';
    default:
      return 'Email_Failed';
  }
}

function isConnectionError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string };
  return (
    /Kafka|Connection|Redis|MaxRetriesPerRequest/i.test(e.name ?? '') ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(e.code ?? '') ||
    /Connection is closed|connect ECONNREFUSED/i.test(e.message ?? '')
  );
}

/**
 * The `Idempotency-Key` header (beyond the reference): absent → null; present but not 1 to 255
 * printable characters → answered 400 here, false.
 */
function idempotencyKeyOf(req: Request, res: Response): string | null | false {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return null;
  const key = Array.isArray(raw) ? raw.join(',') : raw;
  if (!/^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(key)) {
    sendValidationProblem(res, {
      'Idempotency-Key': ['The Idempotency-Key header must be 1 to 255 printable ASCII characters.'],
    });
    return false;
  }
  return key;
}

/** With an idempotencyId in the body, an `Idempotency-Key` header, if sent, must be the same. */
function headerKeyAgrees(req: Request, res: Response, idempotencyId: string): boolean {
  const key = idempotencyKeyOf(req, res);
  if (key === false) return false;
  if (key !== null && key !== idempotencyId) {
    sendValidationProblem(res, {
      'Idempotency-Key': ['The Idempotency-Key header must equal the idempotencyId of the body when both are sent.'],
    });
    return false;
  }
  return true;
}

const describe = (err: unknown) => ({ name: (err as Error).name, message: (err as Error).message });
