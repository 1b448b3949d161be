import { fairShareMetrics } from '../../platform/metrics.ts';
import { FairShare } from '../../platform/redis/fair-share.ts';
import { topicName, type TopicKey } from '../../platform/topics.ts';
import { stageGroupId } from '../runtime/runner.ts';
import { deferring, redisPrefix, type StageDeps, type StageModule } from '../runtime/wiring.ts';
import { SendGate } from './send-gate.ts';
import { schedulerStage } from './stage.ts';

/** Records on `topic` that `stage`'s consumer group has not taken yet (its lag, over all partitions). */
export function queueLag(deps: Pick<StageDeps, 'kafka' | 'config'>, topic: TopicKey, stage: string) {
  const prefix = deps.config.TOPIC_PREFIX;
  const name = topicName(prefix, topic);
  return async (): Promise<number> => {
    const [ends, done] = await Promise.all([
      deps.kafka.topicEndOffsets(name),
      deps.kafka.groupOffsets(stageGroupId(prefix, stage), name),
    ]);
    let lag = 0;
    for (const [p, end] of ends) lag += Math.max(0, Number(end) - Math.max(0, Number(done.get(p) ?? 0n)));
    return lag;
  };
}

/**
 * scheduler: holds each order until its send time (a deferring stage: store and releaser from
 * the runtime), and paces creators over their fair share when FAIR_SHARE_* sets a rate: their
 * orders wait in the channel's gated lane, which the releaser lets go as the senders keep up.
 */
export const scheduler: StageModule = {
  name: 'scheduler',
  build: (deps) => {
    const c = deps.config;
    const metrics = fairShareMetrics(deps.registry);
    const rates = { email: c.FAIR_SHARE_EMAIL_PER_SECOND, sms: c.FAIR_SHARE_SMS_PER_SECOND };
    if (rates.email <= 0 && rates.sms <= 0) return deferring(deps, schedulerStage({ clock: deps.clock }));
    const pacer = new FairShare(deps.redis(), `${redisPrefix(c)}fair:`, {
      perSecond: rates,
      burstSeconds: c.FAIR_SHARE_BURST_SECONDS,
      weights: c.FAIR_SHARE_WEIGHTS,
      held: (channel, cost, ms) => {
        metrics.paced.inc({ channel }, cost);
        metrics.wait.observe({ channel }, ms / 1000);
      },
    });
    const log = deps.logger.child({ component: 'fair-share' });
    const gate = (channel: 'email' | 'sms', queue: TopicKey, sender: string) =>
      rates[channel] > 0
        ? {
            [channel]: new SendGate({
              perSecond: rates[channel],
              bound: rates[channel] * c.FAIR_SHARE_QUEUE_SECONDS,
              backlog: queueLag(deps, queue, sender),
              read: (n) => metrics.sendBacklog.set({ channel }, n),
              failed: (err) => log.warn({ err, channel }, 'could not read the send backlog; paced orders wait'),
            }),
          }
        : {};
    const gates = { ...gate('email', 'emailQueue', 'send-email'), ...gate('sms', 'smsQueue', 'send-sms') };
    return deferring(deps, schedulerStage({ clock: deps.clock, pacer }), [], gates);
  },
};
