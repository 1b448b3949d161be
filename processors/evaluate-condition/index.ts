import { dependencyObserver } from '../../platform/metrics.ts';
import { ConditionClient, type ConditionResult } from '../../platform/http/condition-client.ts';
import { FirstAnswers } from '../../platform/redis/first-answers.ts';
import { EgressGuard } from '../../platform/http/egress.ts';
import type { Stage } from '../runtime/stage.ts';
import { deferring, redisPrefix, type StageDeps, type StageModule } from '../runtime/wiring.ts';
import { evaluateConditionStage } from './stage.ts';

/** The stage with its condition client (CONDITION_*, EGRESS_*). */
export function buildEvaluateCondition(deps: StageDeps): Stage<'ordersEnriched'> {
  const { config } = deps;
  const guard = new EgressGuard({
    allowLoopback: config.EGRESS_ALLOW_LOOPBACK,
    allowPrivate: config.EGRESS_ALLOW_PRIVATE,
  });
  const client = new ConditionClient({
    guard,
    timeoutMs: config.CONDITION_TIMEOUT_MS,
    observe: dependencyObserver(deps.registry, 'condition-endpoint'),
  });
  return evaluateConditionStage({
    client,
    retryDelayMs: config.CONDITION_RETRY_DELAY_MS,
    clock: deps.clock,
    answers: new FirstAnswers<ConditionResult>(
      deps.redis(),
      `${redisPrefix(config)}condition-answer:`,
      config.CONDITION_ANSWER_TTL_S,
    ),
  });
}

/** evaluate-condition: asks the sender's condition endpoint (CONDITION_*, EGRESS_*); defers a re-check. */
export const evaluateCondition: StageModule = {
  name: 'evaluate-condition',
  build: (deps) => deferring(deps, buildEvaluateCondition(deps)),
};
