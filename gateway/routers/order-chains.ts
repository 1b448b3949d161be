import express, { type Request, type Response } from 'express';
import type { EgressGuard } from '../../platform/http/egress.ts';
import type { RegistryClient } from '../../platform/registry/client.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { headerKeyAgrees, jsonBody, JSON_TYPES, requireJson } from '../http/body.ts';
import type { IdempotentRequests } from '../orders/claim.ts';
import { lookupRecipients } from '../orders/lookup.ts';
import { chainOrders, chainResponse, composedOrder, type Defaults } from '../orders/map.ts';
import type { OrderPublisher } from '../orders/publish.ts';
import { PROBLEMS, sendProblem, sendValidationProblem } from '../problems.ts';
import { validateComposedEmail } from '../validation/composed-email.ts';
import { validateOrderChain } from '../validation/order-chain.ts';

export interface OrderChainDeps {
  orders: OrderPublisher;
  requests: IdempotentRequests;
  registry: RegistryClient;
  /** the egress policy condition endpoints are checked against at order time */
  egress: EgressGuard;
  defaults: Defaults;
  /** the storage hosts a composed email's SAS URLs may name (ATTACHMENT_HOSTS) */
  attachmentHosts: readonly string[];
  clock: () => number;
  /** where the `Location` of a new chain points (the API's base URL) */
  apiUrl: string;
  bodyLimitBytes: number;
}

/**
 * `POST /future/orders`: an order chain (a notification and its reminders), idempotent per
 * (creator, idempotencyId): ids derive from them, the first request's records and answer are
 * claimed in Redis, a repeat gets the first answer (200). `POST /future/orders/composed-email`:
 * one email with files (order type Composed), in the same idempotency space, as the reference
 * has it (its tracking is an order chain's).
 */
export function orderChainsRouter(d: OrderChainDeps) {
  const router = express.Router();
  router.post(
    '/future/orders',
    requireJson,
    jsonBody(d.bodyLimitBytes, JSON_TYPES),
    async (req: Request, res: Response) => {
      const creator = res.locals.creator as string;
      const now = d.clock();
      const v = validateOrderChain(req.body, now, d.egress);
      if (!v.ok) return sendValidationProblem(res, v.errors);
      if (!headerKeyAgrees(req, res, v.value.idempotencyId)) return;
      await place(req, res, creator, v.value.idempotencyId, chainOrders(v.value, creator, now, d.defaults), now);
    },
  );
  router.post(
    '/future/orders/composed-email',
    requireJson,
    jsonBody(d.bodyLimitBytes, JSON_TYPES),
    async (req: Request, res: Response) => {
      const creator = res.locals.creator as string;
      const now = d.clock();
      const v = validateComposedEmail(req.body, now, d.attachmentHosts, d.egress);
      if (!v.ok) return sendValidationProblem(res, v.errors);
      if (!headerKeyAgrees(req, res, v.value.idempotencyId)) return;
      await place(req, res, creator, v.value.idempotencyId, [composedOrder(v.value, creator, now, d.defaults)], now);
    },
  );

  /** Claims the request's answer, looks its recipients up where needed, publishes its records, answers 201. */
  async function place(
    req: Request,
    res: Response,
    creator: string,
    key: string,
    records: NotificationOrder[],
    now: number,
  ): Promise<void> {
    const body = chainResponse(records);
    const held = await d.requests.claimOrReplay(res, creator, key, JSON.stringify(records), body, async (stored) => {
      const original = JSON.parse(stored) as NotificationOrder[];
      await d.orders.takeOver(original);
      return () => d.orders.remember(original, now);
    });
    if (!held) return;
    try {
      const needsLookup = records.some((o) => o.recipients.some((r) => !r.emailAddress && !r.mobileNumber));
      if (needsLookup) {
        const lookup = await lookupRecipients(d.registry, records);
        if (lookup.missingContact.length > 0) {
          await d.requests.release(held);
          return void sendProblem(res, PROBLEMS.missingContact);
        }
      }
      if (await d.requests.hungUp(req, res, held)) return;
      await d.orders.publish(records);
    } catch (err) {
      await d.requests.release(held);
      throw err;
    }
    await Promise.all([d.requests.finish(held), d.orders.remember(records, now)]);
    res.status(201).location(`${d.apiUrl}/orders/chain/${body.notificationOrderId}`).json(body);
  }
  return router;
}
