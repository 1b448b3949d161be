import { buildEnrichRecipients, enrichRecipients } from '../enrich-recipients/index.ts';
import { buildEvaluateCondition } from '../evaluate-condition/index.ts';
import { CHECKED_ELSEWHERE_HEADER } from '../evaluate-condition/stage.ts';
import { buildResolveChannel } from '../resolve-channel/index.ts';
import { fuse } from '../runtime/fuse.ts';
import type { Emission, Stage } from '../runtime/stage.ts';
import type { EnrichedOrder } from '../../platform/schemas/generated/enriched-order.ts';
import { deferring, type StageModule } from '../runtime/wiring.ts';

/**
 * prepare-notifications: enrich-recipients, evaluate-condition and resolve-channel in one hop
 * (`fuse`): a due order is looked up, its condition asked and its notifications written in one
 * transaction, in enrich-recipients' consumer group (it takes over from it, with its offsets).
 * evaluate-condition and resolve-channel run beside it as lanes, each on its own topic and in
 * its own consumer group, for what reaches their topics: a condition re-check (held in
 * evaluate-condition's schedule store and written back by its releaser, which runs here too), an
 * older version's records, a replayed dead letter.
 *
 * A first check left inconclusive writes the order, as checked, to orders.enriched with its
 * deferral (marked: evaluate-condition passes it by), so the topics still show what waits for its
 * re-check and `./dev rebuild-schedules` finds it as it does evaluate-condition's own.
 */
export const prepareNotifications: StageModule = {
  name: 'prepare-notifications',
  group: enrichRecipients.name,
  build: (deps) => {
    const evaluate = buildEvaluateCondition(deps);
    const resolve = buildResolveChannel(deps);
    // evaluate-condition's schedule store, releaser and deferrals: the fused stage and the lane share them
    const checking = deferring(deps, evaluate);
    return {
      stage: withCheckedRecord(fuse('prepare-notifications', [buildEnrichRecipients(deps), evaluate, resolve])),
      services: checking.services,
      deferrals: checking.deferrals!,
      lanes: [{ stage: evaluate, deferrals: checking.deferrals! }, resolve],
    };
  },
};

/** the fused stage, writing a deferred order's first check to orders.enriched with the deferral */
function withCheckedRecord(stage: Stage): Stage {
  const checked = (held: unknown): Emission => {
    const order = held as EnrichedOrder;
    return {
      topic: 'ordersEnriched',
      key: order.orderId,
      value: { ...order, conditionChecks: order.conditionChecks - 1 },
      headers: { [CHECKED_ELSEWHERE_HEADER]: stage.name },
    };
  };
  return {
    ...stage,
    outputs: [...stage.outputs, 'ordersEnriched'],
    handle: (value, ctx) => {
      const outcome = stage.handle(value, ctx);
      const marked = (o: Awaited<typeof outcome>) =>
        o.kind === 'defer' ? { ...o, also: [checked(o.value), ...(o.also ?? [])] } : o;
      return outcome instanceof Promise ? outcome.then(marked) : marked(outcome);
    },
  };
}
