import express, { type Request, type Response } from 'express';
import type { PlainProducer } from '../../platform/kafka/adapter.ts';
import type { Logger } from '../../platform/logger.ts';
import type { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import { topicName } from '../../platform/topics.ts';
import type { OrderView, ViewStore } from '../../platform/view/store.ts';
import { PROBLEMS, sendProblem, sendValidationProblem } from '../problems.ts';
import {
  chainExt,
  feedEntryExt,
  notificationSummaryExt,
  orderExt,
  orderWithStatusExt,
  shipmentExt,
  type Links,
} from '../views.ts';

export interface ReadDeps {
  view: ViewStore;
  /** cancellation takes a waiting order out of the scheduler's store */
  schedule: ScheduleStore;
  /** and reports it on the status topic */
  producer: Pick<PlainProducer, 'send'>;
  codec: AvroCodec;
  topicPrefix: string;
  clock: () => number;
  /** links in answers point at this (the gateway's public base URL) */
  baseUrl: string;
  feedVisibilityDelayMs: number;
  log: Pick<Logger, 'warn'>;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CANCEL_MARGIN_MS = 5 * 60 * 1000;

/**
 * What a creator reads about its orders, from the status view (never Kafka): v1 orders and
 * their status and notifications, order chains, shipments and the status feed; and
 * cancellation. Another creator's order is a 404, as an unknown one.
 */
export function readsRouter(d: ReadDeps) {
  const router = express.Router();
  const links: Links = { base: d.baseUrl };
  const notFound = (res: Response) =>
    sendProblem(res, { status: 404, title: 'Not Found', detail: 'No order with this id exists for the caller.' });
  const findOrder = async (req: Request, res: Response) => {
    const id = String(req.params.id);
    if (!GUID.test(id)) return null;
    return d.view.get(id.toLowerCase(), res.locals.creator as string);
  };

  router.get('/orders', async (req, res) => {
    const ref = typeof req.query.sendersReference === 'string' ? req.query.sendersReference : '';
    if (!ref) return sendValidationProblem(res, { sendersReference: ['The sendersReference field is required.'] });
    const views = await d.view.bySendersReference(res.locals.creator as string, ref);
    res.json({ count: views.length, orders: views.map((v) => orderExt(v, links)) });
  });
  // The Location of a new order chain (as the reference writes it): its main order and reminders.
  router.get('/orders/chain/:id', async (req, res) => {
    const id = String(req.params.id);
    const views = GUID.test(id) ? await d.view.chain(id.toLowerCase(), res.locals.creator as string) : [];
    return views.length > 0
      ? res.json(chainExt(id.toLowerCase(), views))
      : sendProblem(res, {
          status: 404,
          title: 'Not Found',
          detail: 'No order chain with this id exists for the caller.',
        });
  });
  router.get('/orders/:id', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(orderExt(v, links)) : notFound(res);
  });
  router.get('/orders/:id/status', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(orderWithStatusExt(v, links)) : notFound(res);
  });
  router.get('/orders/:id/notifications/email', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(notificationSummaryExt(v, 'Email')) : notFound(res);
  });
  router.get('/orders/:id/notifications/sms', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(notificationSummaryExt(v, 'Sms')) : notFound(res);
  });

  router.put('/orders/:id/cancel', async (req, res) => {
    const v = await findOrder(req, res);
    if (!v) return notFound(res);
    if (v.status === 'Order_Cancelled') return res.json(orderWithStatusExt(v, links));
    const now = d.clock();
    const prohibited = () =>
      sendProblem(res, {
        status: 409,
        title: 'Conflict',
        detail:
          'The order cannot be cancelled: processing has started or its send time is less than five minutes away.',
      });
    if (v.status !== 'Order_Registered' || v.order.requestedSendTime <= now + CANCEL_MARGIN_MS) return prohibited();
    const event: StatusEvent = orderStatus(v.order, 'Order_Cancelled', now);
    const announcement = { topic: 'status', key: v.order.orderId, value: await d.codec.encode('status', event) };
    // The schedule keeps the event with the cancellation until it is published: if this request
    // dies or fails after the cancellation (its replicas' wait refused, the publish failed), the
    // scheduler's releaser publishes it, and the order does not stay Registered for ever.
    const result = await d.schedule.cancel(v.order.orderId, now, announcement);
    if (result === 'in-flight' || result === 'released') return prohibited();
    await d.producer.send([{ ...announcement, topic: topicName(d.topicPrefix, 'status') }]);
    // Published: the order is cancelled, and the caller is told so whatever fails from here. A
    // kept announcement not forgotten is published again by the releaser (a second
    // Order_Cancelled, which the view takes as it takes the one status-view applies after ours);
    // a view not written here is written by status-view from the topic.
    let after: OrderView | null = null;
    try {
      await d.schedule.announced([v.order.orderId]);
    } catch (err) {
      d.log.warn(
        { orderId: v.order.orderId, err: (err as Error).message },
        'a cancellation published but not forgotten in the schedule: the releaser publishes it again',
      );
    }
    try {
      await d.view.apply(event, now);
      after = await d.view.get(v.order.orderId, res.locals.creator as string);
    } catch (err) {
      d.log.warn(
        { orderId: v.order.orderId, err: (err as Error).message },
        'a cancellation published but not written to the view: status-view writes it',
      );
    }
    res.json(orderWithStatusExt(after ?? { ...v, status: 'Order_Cancelled', statusAt: now }, links));
  });

  router.get('/future/shipment/feed', async (req, res) => {
    const seqRaw = req.query.seq === undefined ? '0' : String(req.query.seq);
    const seq = Number(seqRaw);
    if (!/^-?\d+$/.test(seqRaw)) return sendValidationProblem(res, { seq: [`The value '${seqRaw}' is not valid.`] });
    if (seq < 0) return sendValidationProblem(res, { Seq: ['Sequence number cannot be less than 0.'] });
    const sizeRaw = req.query.pageSize === undefined ? 500 : Number(req.query.pageSize);
    const pageSize = Number.isFinite(sizeRaw) ? Math.min(500, Math.max(1, Math.trunc(sizeRaw))) : 500;
    const orderBy = String(req.query.orderBy ?? 'asc').toLowerCase() === 'desc' ? 'desc' : 'asc';
    const entries = await d.view.feed(res.locals.creator as string, {
      seq,
      pageSize,
      order: orderBy,
      visibleBefore: d.clock() - d.feedVisibilityDelayMs,
    });
    res.json(entries.map(feedEntryExt));
  });
  router.get('/future/shipment/:id', async (req, res) => {
    const v = await findOrder(req, res);
    return v ? res.json(shipmentExt(v)) : sendProblem(res, PROBLEMS.shipmentNotFound);
  });
  return router;
}
