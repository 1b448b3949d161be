import { z } from 'zod';

/** Weights as `creator=weight,…` (each a positive number; a creator not named weighs 1). */
const weights = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const out: Record<string, number> = {};
    for (const part of s.split(',').map((p) => p.trim())) {
      if (part === '') continue;
      const m = /^([^=\s]+)\s*=\s*([0-9]+(?:\.[0-9]+)?)$/.exec(part);
      const w = m ? Number(m[2]) : NaN;
      if (!m || !(w > 0)) {
        ctx.addIssue({ code: 'custom', message: `"${part}" is not creator=weight with a weight above 0` });
        return z.NEVER;
      }
      out[m[1]!] = w;
    }
    return out;
  });

const perSecond = z.coerce.number().min(0).default(0);

/**
 * scheduler: fair share of the senders between creators (an extension; off unless a rate is
 * set). A creator whose orders would put more than FAIR_SHARE_BURST_SECONDS of its share of a
 * channel's rate into the send queues at once is paced: its orders wait in the scheduler's
 * schedule and are released at its share of the rate, and no faster than the senders take them
 * (FAIR_SHARE_QUEUE_SECONDS), so another creator's few orders find the send queues short.
 */
export const schedulerOptions = z.object({
  /**
   * SMS notifications per second the creators being paced share (0: SMS not paced). Set it a
   * little under what the senders take (about 0.95 × the SMSC account's SMPP_TPS, less
   * SMPP_INSTANT_RESERVE's share), so the queue stays short and an unpaced creator's few go at once
   */
  FAIR_SHARE_SMS_PER_SECOND: perSecond,
  /** the same for emails (about 0.95 × EMAIL_RATE_PER_SECOND, or what the SMTP server takes); 0: not paced */
  FAIR_SHARE_EMAIL_PER_SECOND: perSecond,
  /** how much a creator may place at once unpaced, in seconds of its share of the rate */
  FAIR_SHARE_BURST_SECONDS: z.coerce.number().min(0).default(2),
  /**
   * how many seconds of a channel's fair-share rate may wait for its senders (their queue's lag,
   * which counts what a sender has fetched and not yet committed) before paced orders are held
   * back in the schedule. Larger keeps the senders' batches large (the campaign near the rate),
   * smaller keeps another creator's wait short: at 2, 4 and 8 the bench gave the campaign 0.84,
   * 0.90 and 0.93 of the SMSC's rate, the other creator p99 1.7, 2.6 and 4.0 s
   */
  FAIR_SHARE_QUEUE_SECONDS: z.coerce.number().positive().default(8),
  /** creators' weights, `ttd=2,nav=0.5`: a creator's share of the rate is its weight over the paced creators' sum */
  FAIR_SHARE_WEIGHTS: weights,
});

export type SchedulerOptions = z.infer<typeof schedulerOptions>;
