import { orderStatus } from '../../platform/status.ts';
import type { ConditionClient, ConditionResult } from '../../platform/http/condition-client.ts';
import type { EnrichedOrder } from '../../platform/schemas/generated/enriched-order.ts';
import { orderOf } from '../../platform/schemas/enriched.ts';
import { defer, defineStage, emit, skip, type RecordContext, type Stage } from '../runtime/stage.ts';

/**
 * Marks an order on orders.enriched whose first check prepare-notifications made (inconclusive;
 * its re-check is held in this stage's schedule store): written for the log and for
 * `./dev rebuild-schedules`, and passed by here, since it was checked already.
 */
export const CHECKED_ELSEWHERE_HEADER = 'x-condition-checked-by';

/**
 * evaluate-condition (reference §7): an order without a condition endpoint, or whose endpoint
 * answers `{"sendNotification": true}`, goes on to orders.approved. `false` ends the order as
 * SendConditionNotMet (a status event; final). An inconclusive answer is asked again once, no
 * sooner than the retry delay: the order is deferred back onto orders.enriched (the runtime holds
 * it in a schedule store, so nothing else waits behind it); inconclusive again, it is sent.
 */
export function evaluateConditionStage(ports: {
  client: Pick<ConditionClient, 'check'>;
  retryDelayMs: number;
  clock: () => number;
  /**
   * Keeps the first answer to each check (the order and its check number) and gives it back to
   * every later handling of the same record. Without it, a handling that deferred the order (an
   * inconclusive answer: the re-check held in Redis) and whose transaction then failed could be
   * followed by one that approved it (the endpoint answering now): the order approved, and again
   * at its re-check.
   */
  answers?: { keep(question: string, answer: ConditionResult): Promise<ConditionResult> };
}): Stage<'ordersEnriched'> {
  return defineStage({
    name: 'evaluate-condition',
    input: 'ordersEnriched',
    outputs: ['ordersApproved', 'status'],
    defer: { name: 'condition-retry', keyPrefix: 'condition-retry:', output: 'ordersEnriched' },
    // Without a condition endpoint the order is approved at once, off the runtime's promise path.
    handle(enriched: EnrichedOrder, ctx) {
      const checkedBy = ctx.headers[CHECKED_ELSEWHERE_HEADER];
      if (checkedBy) return skip(`checked once by ${checkedBy.toString()}; its re-check is held in condition-retry`);
      const { conditionEndpoint } = orderOf(enriched);
      if (!conditionEndpoint) return approve(enriched);
      return evaluate(enriched, conditionEndpoint, ctx);
    },
  });

  function approve(enriched: EnrichedOrder) {
    return emit({ topic: 'ordersApproved', key: enriched.orderId, value: enriched });
  }

  async function evaluate(enriched: EnrichedOrder, conditionEndpoint: string, ctx: RecordContext) {
    const asked = await ports.client.check(conditionEndpoint);
    const result = ports.answers
      ? await ports.answers.keep(`{${enriched.orderId}}:${enriched.conditionChecks}`, asked)
      : asked;
    if (result.kind === 'met') return approve(enriched);
    if (result.kind === 'not-met') {
      return emit({
        topic: 'status',
        key: enriched.orderId,
        value: orderStatus(
          enriched,
          'Order_SendConditionNotMet',
          ports.clock(),
          'The condition endpoint answered sendNotification: false',
        ),
      });
    }
    if (enriched.conditionChecks >= 1) {
      ctx.logger.warn(
        { orderId: enriched.orderId, reason: result.reason },
        'condition inconclusive on the re-check: sending',
      );
      return approve(enriched);
    }
    ctx.logger.info({ orderId: enriched.orderId, reason: result.reason }, 'condition inconclusive: asking again later');
    return defer({
      id: enriched.orderId,
      until: ports.clock() + ports.retryDelayMs,
      value: { ...enriched, conditionChecks: enriched.conditionChecks + 1 },
      reason: `condition inconclusive (${result.reason}); re-check scheduled`,
    });
  }
}
