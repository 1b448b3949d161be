import type { NotificationOrder } from '../platform/schemas/generated/order.ts';
import type { EnrichedOrder } from '../platform/schemas/generated/enriched-order.ts';
import { orderOf } from '../platform/schemas/enriched.ts';
import { orderStatus } from '../platform/status.ts';
import { fuse } from '../processors/runtime/fuse.ts';
import { defer, defineStage, emit } from '../processors/runtime/stage.ts';
import { deferring, type StageModule } from '../processors/runtime/wiring.ts';
import { schedulerStage } from '../processors/scheduler/stage.ts';
import { enrichedOrder, sampleEmail } from '../test/support/stack.ts';

/**
 * The chain's shape on the stage runtime with no decisions in it: four stages that write what
 * the chain's four hops write per email order (the order or notification plus 2, 0, 0 and 2
 * status events, with the real schemas), doing no Redis, registry or HTTP work. The chain's
 * own cost over these is what its decisions cost; these over raw kafkajs are the runtime's.
 */
export const PASS_STAGES: Record<string, StageModule> = {
  'pass-due': {
    name: 'pass-due',
    build: () => ({
      stage: defineStage({
        name: 'pass-due',
        input: 'orders',
        outputs: ['ordersDue', 'status'],
        pure: true,
        handle: (order: NotificationOrder) =>
          emit(
            { topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Registered', Date.now()) },
            { topic: 'ordersDue', key: order.orderId, value: order },
            { topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Processing', Date.now()) },
          ),
      }),
      services: [],
    }),
  },
  'pass-enrich': {
    name: 'pass-enrich',
    build: () => ({
      stage: defineStage({
        name: 'pass-enrich',
        input: 'ordersDue',
        outputs: ['ordersEnriched'],
        pure: true,
        handle: (order: NotificationOrder) =>
          emit({ topic: 'ordersEnriched', key: order.orderId, value: enrichedOrder(order) }),
      }),
      services: [],
    }),
  },
  'pass-approve': {
    name: 'pass-approve',
    build: () => ({
      stage: defineStage({
        name: 'pass-approve',
        input: 'ordersEnriched',
        outputs: ['ordersApproved'],
        pure: true,
        handle: (enriched: EnrichedOrder) => emit({ topic: 'ordersApproved', key: enriched.orderId, value: enriched }),
      }),
      services: [],
    }),
  },
  'pass-resolve': {
    name: 'pass-resolve',
    build: () => ({
      stage: defineStage({
        name: 'pass-resolve',
        input: 'ordersApproved',
        outputs: ['emailQueue', 'status'],
        pure: true,
        handle: (enriched: EnrichedOrder) => {
          const order = orderOf(enriched);
          const email = sampleEmail('bench@example.com', { orderId: order.orderId, creator: order.creator });
          return emit(
            { topic: 'emailQueue', key: email.notificationId, value: email },
            {
              topic: 'status',
              key: order.orderId,
              value: { ...orderStatus(order, 'Email_New', Date.now()), notificationId: email.notificationId },
            },
            { topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Processed', Date.now()) },
          );
        },
      }),
      services: [],
    }),
  },
};

/**
 * pass-due with the scheduler's durable claim: the order goes to orders.due as a `defer` due
 * already, so the runtime claims it in a schedule store of its own (Redis) for its record and
 * writes it in that record's transaction, with a releaser beside it, exactly as the scheduler
 * does; nothing else of the scheduler's (no validation, no fair share). The chain over this
 * shape is what its decisions cost beyond the once-only claim.
 */
PASS_STAGES['pass-due-claimed'] = {
  name: 'pass-due-claimed',
  build: (deps) =>
    deferring(
      deps,
      defineStage({
        name: 'pass-due-claimed',
        input: 'orders',
        outputs: ['status', 'ordersDue'],
        pure: true,
        // the scheduler's own deferral (its output and Order_Processing event), in a store of its own
        defer: { ...schedulerStage({ clock: deps.clock }).defer!, name: 'pass-due-claimed', keyPrefix: 'pass-orders:' },
        handle: (order: NotificationOrder) =>
          defer({
            id: order.orderId,
            until: order.requestedSendTime,
            value: order,
            reason: 'waits for its send time',
            also: [{ topic: 'status', key: order.orderId, value: orderStatus(order, 'Order_Registered', Date.now()) }],
          }),
      }),
    ),
};

/** pass-enrich, pass-approve and pass-resolve in one hop (`fuse`): the pass-through twin of prepare-notifications */
PASS_STAGES['pass-prepare'] = {
  name: 'pass-prepare',
  build: (deps) => ({
    stage: fuse(
      'pass-prepare',
      ['pass-enrich', 'pass-approve', 'pass-resolve'].map((n) => PASS_STAGES[n]!.build(deps).stage),
    ),
    services: [],
  }),
};
