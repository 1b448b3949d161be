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
  /**
   * how many Redis replicas must hold a sender's claim on a notification before it hands the
   * notification over (Redis `WAIT`), so a failover to one of them cannot lose the claim and let
   * the notification be sent twice; 0: none (a single Redis, or replicas whose loss of the last
   * writes at a failover is accepted)
   */
  SEND_LEDGER_REPLICAS: int(0).pipe(z.number().min(0)),
  /** how long a claim waits for those replicas before the hand-over is tried again later, ms */
  SEND_LEDGER_REPLICA_WAIT_MS: int(1_000).pipe(z.number().min(1)),
});
