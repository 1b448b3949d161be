import { z } from 'zod';
import { flag } from '../config-kit.ts';

/** Where the platform may call on a sender's behalf (condition endpoints): the gateway checks at order time, evaluate-condition at every call. */
export const egressOptions = z.object({
  /** let condition endpoints resolve to loopback addresses (local runs and tests only) */
  EGRESS_ALLOW_LOOPBACK: flag(false),
  /** let condition endpoints resolve to private-range addresses */
  EGRESS_ALLOW_PRIVATE: flag(false),
});
