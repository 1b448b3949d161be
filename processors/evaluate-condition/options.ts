import { z } from 'zod';
import { int } from '../../platform/config-kit.ts';

/** evaluate-condition: calling condition endpoints (and the egress policy, shared with the gateway). */
export const conditionOptions = z.object({
  /** per condition endpoint call, ms */
  CONDITION_TIMEOUT_MS: int(10_000).pipe(z.number().min(100)),
  /** wait before the one re-check of an inconclusive condition, ms (the reference: at least a minute) */
  CONDITION_RETRY_DELAY_MS: int(60_000).pipe(z.number().min(0)),
  /**
   * how long a condition check's answer is kept for a record handled again (after a failed
   * transaction, a rebalance), s: longer than a partition can go unread while its stage runs
   */
  CONDITION_ANSWER_TTL_S: int(86_400).pipe(z.number().min(60)),
});
