import { z } from 'zod';
import { int } from '../config-kit.ts';

/** How long the senders' Redis records (send ledger, delivery references) are kept. */
export const ledgerOptions = z.object({
  /** how long the send ledger remembers a hand-over, seconds (longer than any notification lives) */
  SEND_LEDGER_TTL_S: int(14 * 24 * 3600).pipe(z.number().min(60)),
  /**
   * how long a sender that finds another instance's claim on a notification waits for its
   * outcome before it takes the claim as that instance's crash and reports it failed, ms
   */
  SEND_CLAIM_WAIT_MS: int(15_000).pipe(z.number().min(0)),
});
