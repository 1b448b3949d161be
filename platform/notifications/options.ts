import { z } from 'zod';
import { int } from '../config-kit.ts';

/** The SMS send window for the Daytime policy (resolve-channel computes expiries with it, schedule-window holds SMS to it). */
export const windowOptions = z.object({
  /** SMS send window for the Daytime policy: local opening hour (exclusive) */
  SMS_WINDOW_START_HOUR: int(9).pipe(z.number().min(0).max(23)),
  /** SMS send window: local closing hour (exclusive) */
  SMS_WINDOW_END_HOUR: int(17).pipe(z.number().min(1).max(24)),
  /** SMS send window: IANA time zone */
  SMS_WINDOW_ZONE: z.string().default('Europe/Oslo'),
});
