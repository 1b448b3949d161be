import { z } from 'zod';
import { int } from '../../platform/config-kit.ts';

/** status-view: when a notification still awaiting its report counts as expired. */
export const statusViewOptions = z.object({
  /** grace after a notification's expiry before one still awaiting its report becomes Failed_TTL, ms */
  NOTIFICATION_EXPIRY_GRACE_MS: int(300_000).pipe(z.number().min(0)),
});
