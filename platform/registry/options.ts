import { z } from 'zod';
import { int } from '../config-kit.ts';

/** The registries (Profile, Register, resource rights): enrich-recipients and the gateway look recipients up there. */
export const registryOptions = z.object({
  /** base URL of the registries (Profile, Register, resource rights); needed by enrich-recipients */
  REGISTRY_URL: z.string().url().optional(),
  /** per registry call, ms */
  REGISTRY_TIMEOUT_MS: int(5_000).pipe(z.number().min(100)),
  /** consecutive registry failures that open its circuit */
  REGISTRY_BREAKER_THRESHOLD: int(5).pipe(z.number().min(1)),
  /** how long an open registry circuit waits before one trial call, ms */
  REGISTRY_BREAKER_HALF_OPEN_MS: int(10_000).pipe(z.number().min(100)),
});
