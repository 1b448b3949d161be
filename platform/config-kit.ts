import { z } from 'zod';

/**
 * The pieces every configuration slice is written with. A slice is a zod object of environment
 * variables, each with its unit and default beside it; `platform/config.ts` composes the slices.
 */
export const int = (def: number) => z.coerce.number().int().default(def);

/** "true" or "false" (anything else is refused, naming the variable) */
export const flag = (def: boolean) =>
  z
    .enum(['true', 'false'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true');
