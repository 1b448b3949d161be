import express, { type Request, type Response } from 'express';
import { classify } from '../../platform/errors.ts';
import type { OutboundRecord } from '../../platform/kafka/adapter.ts';
import type { Logger } from '../../platform/logger.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import { topicName } from '../../platform/topics.ts';
import { DISPATCHED_HEADER } from '../../platform/validation/order-record.ts';
import type { ViewStore } from '../../platform/view/store.ts';
import { headerKeyAgrees, jsonBody, JSON_TYPES, requireJson } from '../http/body.ts';
import { writtenByGoneHolder, type IdempotentRequests } from '../orders/claim.ts';
import type { InstantProducer } from '../orders/instant-publisher.ts';
import { instantDispatch, type InstantDispatch } from '../orders/instant.ts';
import type { Defaults } from '../orders/map.ts';
import { PROBLEMS, sendProblem, sendValidationProblem } from '../problems.ts';
import { validateInstantEmail, validateInstantSms } from '../validation/instant.ts';

/** What an instant order's claim holds: what to write, and who was writing it (to fence). */
interface InstantClaim {
  dispatch: InstantDispatch;
  writerIds: readonly string[];
}

/** A stored claim; one stored by a gateway before writerIds were (the dispatch alone) fences nothing. */
function readClaim(stored: string): InstantClaim {
  const parsed = JSON.parse(stored) as InstantClaim | InstantDispatch;
  return 'dispatch' in parsed ? parsed : { dispatch: parsed, writerIds: [] };
}

export interface InstantDeps {
  /** writes an instant order's records (order, notification, statuses) in one Kafka transaction */
  producer: InstantProducer;
  codec: AvroCodec;
  topicPrefix: string;
  view: ViewStore;
  requests: IdempotentRequests;
  defaults: Defaults;
  clock: () => number;
  log: Logger;
  bodyLimitBytes: number;
}

/**
 * Instant orders (`POST /future/orders/instant/sms`, `/email`, and the deprecated `/instant`)
 * skip the schedule and the send window: the order, its notification on the send queue and
 * their statuses go in one Kafka transaction, before the answer. If Kafka cannot take them, the
 * answer is 503 NOT-00004 and nothing is stored. If whether it took them cannot be learnt in
 * time (a commit cut off by a broker's death), the answer is the same 503, and a retry with the
 * same idempotencyId writes the very records claimed (their ids derive from it, so consumers
 * de-duplicate them) and answers 201.
 */
export function instantRouter(d: InstantDeps) {
  const router = express.Router();
  const topic = (k: 'orders' | 'smsInstant' | 'emailInstant' | 'status') => topicName(d.topicPrefix, k);
  const encode = async (x: InstantDispatch): Promise<OutboundRecord[]> => [
    {
      topic: topic('orders'),
      key: x.order.orderId,
      value: await d.codec.encode('orders', x.order),
      // tells the scheduler that this instant order's notification is written beside it
      headers: { [DISPATCHED_HEADER]: x.notification.value.notificationId },
    },
    x.notification.topic === 'smsInstant'
      ? {
          topic: topic('smsInstant'),
          key: x.notification.value.notificationId,
          value: await d.codec.encode('smsInstant', x.notification.value),
        }
      : {
          topic: topic('emailInstant'),
          key: x.notification.value.notificationId,
          value: await d.codec.encode('emailInstant', x.notification.value),
        },
    ...(await Promise.all(
      x.statuses.map(async (e) => ({
        topic: topic('status'),
        key: e.orderId,
        value: await d.codec.encode('status', e),
      })),
    )),
  ];
  /**
   * Whether a claim's holder, gone before it could answer (its lease ran out, or it learnt too
   * late whether its commit took), wrote the records: then writing them again would put the
   * notification on its lane twice. The holder's producers (their ids stored with the claim) are
   * fenced first, which ends the transactions it left open (one open would hold the read until
   * the broker timed it out, 30 s and more), then the instant lane is read from the order's time.
   * A fence or read that fails or takes longer than TAKEOVER_READ_MS answers no: the records are
   * written again, and the sender's ledger (their ids derive from the idempotencyId) hands the
   * notification off once (`writtenByGoneHolder`).
   */
  const writtenBefore = (records: OutboundRecord[], since: number, fence: readonly string[]) =>
    writtenByGoneHolder((signal) => d.producer.stored(records, since, fence, signal), d.log, 'instant order');
  const remember = async (x: InstantDispatch, now: number) => {
    try {
      const { applied } = await d.view.putOrderAndApply(
        x.order,
        { status: 'Order_Processed', at: now },
        x.statuses,
        now,
      );
      const failed = applied.find((a) => a instanceof Error);
      if (failed) throw failed;
    } catch (err) {
      d.log.warn({ err }, 'status view not updated for an instant order; status-view will catch up');
    }
  };
  const handler =
    (validate: (body: unknown) => ReturnType<typeof validateInstantSms>) => async (req: Request, res: Response) => {
      const creator = res.locals.creator as string;
      const now = d.clock();
      const v = validate(req.body);
      if (!v.ok) return sendValidationProblem(res, v.errors);
      if (!headerKeyAgrees(req, res, v.value.idempotencyId)) return;
      const key = v.value.idempotencyId;
      const x = instantDispatch(v.value, creator, now, d.defaults);
      const claim: InstantClaim = { dispatch: x, writerIds: d.producer.ids };
      const held = await d.requests.claimOrReplay(
        res,
        creator,
        key,
        JSON.stringify(claim),
        x.response,
        async (stored) => {
          const { dispatch: original, writerIds } = readClaim(stored);
          const records = await encode(original);
          if (!(await writtenBefore(records, original.order.created, writerIds))) await d.producer.send(records);
          return () => remember(original, now);
        },
      );
      if (!held) return;
      if (await d.requests.hungUp(req, res, held)) return;
      try {
        await d.producer.send(await encode(x));
      } catch (err) {
        // nothing stored: a retry starts afresh; maybe stored: a retry writes the same records
        if (classify(err).code === 'OUTCOME_UNKNOWN') await d.requests.lapse(held);
        else await d.requests.release(held);
        d.log.warn(
          { err: { name: (err as Error).name, message: (err as Error).message } },
          'instant order not dispatched',
        );
        return sendProblem(res, PROBLEMS.dependencyUnavailable);
      }
      await Promise.all([d.requests.finish(held), remember(x, now)]);
      res.status(201).json(x.response);
    };
  const json = jsonBody(d.bodyLimitBytes, JSON_TYPES);
  router.post(
    '/future/orders/instant/sms',
    requireJson,
    json,
    handler((b) => validateInstantSms(b)),
  );
  router.post('/future/orders/instant/email', requireJson, json, handler(validateInstantEmail));
  // deprecated: the SMS recipient under recipient.recipientSms
  router.post(
    '/future/orders/instant',
    requireJson,
    json,
    handler((b) => validateInstantSms(b, true)),
  );
  return router;
}
