import { randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { RegistryClient } from '../../platform/registry/client.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { normaliseMobileNumber } from '../../platform/validation/rules.ts';
import { idempotencyKeyOf, jsonBody, JSON_TYPES, requireJson } from '../http/body.ts';
import type { Held, IdempotentRequests } from '../orders/claim.ts';
import { lookupRecipients, type LookupResult } from '../orders/lookup.ts';
import { recipientOf, type Defaults } from '../orders/map.ts';
import type { OrderPublisher } from '../orders/publish.ts';
import { sendValidationProblem } from '../problems.ts';
import { validateV1EmailOrder, validateV1Order, validateV1SmsOrder, type V1Order } from '../validation/v1.ts';

export interface V1OrderDeps {
  orders: OrderPublisher;
  requests: IdempotentRequests;
  registry: RegistryClient;
  defaults: Defaults;
  clock: () => number;
  /** where the `Location` of a new order points (the API's base URL) */
  apiUrl: string;
  bodyLimitBytes: number;
}

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
    // (the fallback on the delivery outcome is asked for in v2; here FALLBACK_CREATORS decides)
    fallbackOnDeliveryFailure: null,
    attachments: null,
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

/**
 * `POST /orders`, `/orders/email`, `/orders/sms` (v1): 202 with the order id, its `Location`
 * and the recipient lookup. v1 has no idempotencyId; an `Idempotency-Key` header (beyond the
 * reference) makes a retry safe, in a namespace of its own so it never meets a v2 idempotencyId.
 */
export function v1OrdersRouter(d: V1OrderDeps) {
  const router = express.Router();
  const post =
    (validate: (b: unknown, now: number) => ReturnType<typeof validateV1Order>) =>
    async (req: Request, res: Response) => {
      const creator = res.locals.creator as string;
      const now = d.clock();
      const key = idempotencyKeyOf(req, res);
      if (key === false) return;
      const v = validate(req.body, now);
      if (!v.ok) return sendValidationProblem(res, v.errors);
      const order = v1OrderRecord(v.value, creator, now, d.defaults);
      const needsLookup = order.recipients.some((r) => !r.emailAddress && !r.mobileNumber);
      const lookup = needsLookup ? await lookupRecipients(d.registry, [order]) : null;
      const body = { orderId: order.orderId, ...(lookup?.performed ? { recipientLookup: lookupExt(lookup) } : {}) };
      const accepted = (r: Response, b: unknown) =>
        void r
          .status(202)
          .location(`${d.apiUrl}/orders/${(b as typeof body).orderId}`)
          .json(b);
      let held: Held | null = null;
      if (key !== null) {
        held = await d.requests.claimOrReplay(
          res,
          creator,
          `v1\n${key}`,
          JSON.stringify([order]),
          body,
          async (stored) => {
            const original = JSON.parse(stored) as NotificationOrder[];
            await d.orders.takeOver(original);
            return () => d.orders.remember(original, now);
          },
          accepted,
        );
        if (!held) return;
      }
      try {
        if (await d.requests.hungUp(req, res, held)) return;
        await d.orders.publish([order]);
      } catch (err) {
        if (held) await d.requests.release(held);
        throw err;
      }
      await Promise.all([held ? d.requests.finish(held) : null, d.orders.remember([order], now)]);
      accepted(res, body);
    };
  const json = jsonBody(d.bodyLimitBytes, JSON_TYPES);
  router.post('/orders', requireJson, json, post(validateV1Order));
  router.post('/orders/email', requireJson, json, post(validateV1EmailOrder));
  router.post('/orders/sms', requireJson, json, post(validateV1SmsOrder));
  return router;
}
