import { z } from 'zod';

/** resolve-channel: who has the fallback on the delivery outcome by default (an extension). */
export const resolveChannelOptions = z.object({
  /**
   * creators (comma-separated, or `*` for all) whose EmailPreferred and SmsPreferred orders fall
   * back to the other channel when the preferred one finally fails, unless an order says
   * `fallbackOnDeliveryFailure: false`; empty (the default): only orders that ask for it
   */
  FALLBACK_CREATORS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean),
    ),
});

/** Whether an order of `creator` that does not say falls back (FALLBACK_CREATORS). */
export const fallbackByDefault = (creators: readonly string[], creator: string) =>
  creators.includes('*') || creators.includes(creator);
