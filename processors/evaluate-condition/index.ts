import { dependencyObserver } from '../../platform/metrics.ts';
import { ConditionClient } from '../../platform/http/condition-client.ts';
import { EgressGuard } from '../../platform/http/egress.ts';
import { deferring, type StageModule } from '../runtime/wiring.ts';
import { evaluateConditionStage } from './stage.ts';

/** evaluate-condition: asks the sender's condition endpoint (CONDITION_*, EGRESS_*); defers a re-check. */
export const evaluateCondition: StageModule = {
  name: 'evaluate-condition',
  build: (deps) => {
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
    return deferring(
      deps,
      evaluateConditionStage({ client, retryDelayMs: config.CONDITION_RETRY_DELAY_MS, clock: deps.clock }),
    );
  },
};
