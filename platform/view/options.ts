import { z } from 'zod';
import { int } from '../config-kit.ts';

/** The status view (the gateway reads it; order-view and status-view write it). */
export const viewOptions = z.object({
  /**
   * how long an order stays readable after its last update, seconds (default 90 days, as the
   * reference keeps its status feed); then its reads answer 404 and it leaves the feed
   */
  VIEW_RETENTION_S: int(90 * 24 * 3600).pipe(z.number().min(3600)),
});
