import { fairShareMetrics } from '../../platform/metrics.ts';
import { FairShare } from '../../platform/redis/fair-share.ts';
import { deferring, redisPrefix, type StageModule } from '../runtime/wiring.ts';
import { schedulerStage } from './stage.ts';

/**
 * scheduler: holds each order until its send time (a deferring stage: store and releaser from
 * the runtime), and paces creators over their fair share when FAIR_SHARE_* sets a rate.
 */
export const scheduler: StageModule = {
  name: 'scheduler',
  build: (deps) => {
    const c = deps.config;
    const metrics = fairShareMetrics(deps.registry);
    const pacer =
      c.FAIR_SHARE_EMAIL_PER_SECOND > 0 || c.FAIR_SHARE_SMS_PER_SECOND > 0
        ? new FairShare(deps.redis(), `${redisPrefix(c)}fair:`, {
            perSecond: { email: c.FAIR_SHARE_EMAIL_PER_SECOND, sms: c.FAIR_SHARE_SMS_PER_SECOND },
            burstSeconds: c.FAIR_SHARE_BURST_SECONDS,
            weights: c.FAIR_SHARE_WEIGHTS,
            held: (channel, cost, ms) => {
              metrics.paced.inc({ channel }, cost);
              metrics.wait.observe({ channel }, ms / 1000);
            },
          })
        : undefined;
    return deferring(deps, schedulerStage({ clock: deps.clock, ...(pacer ? { pacer } : {}) }));
  },
};
