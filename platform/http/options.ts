import { z } from 'zod';
import { flag, int } from '../config-kit.ts';
import { DEFAULT_ATTACHMENT_HOSTS } from '../validation/attachments.ts';

/** Where the platform may call on a sender's behalf (condition endpoints): the gateway checks at order time, evaluate-condition at every call. */
export const egressOptions = z.object({
  /** let condition endpoints resolve to loopback addresses (local runs and tests only) */
  EGRESS_ALLOW_LOOPBACK: flag(false),
  /** let condition endpoints resolve to private-range addresses */
  EGRESS_ALLOW_PRIVATE: flag(false),
});

/** Composed emails' files: where the gateway lets a SAS URL point, and how send-email fetches them. */
export const attachmentOptions = z.object({
  /**
   * storage hosts (comma-separated domain names; each also covers its subdomains) a composed
   * email's SAS URLs may name: checked by the gateway, and again by send-email before it fetches
   */
  ATTACHMENT_HOSTS: z
    .string()
    .default(DEFAULT_ATTACHMENT_HOSTS.join(','))
    .transform((s) =>
      s
        .split(',')
        .map((h) => h.trim().toLowerCase().replace(/^\./, ''))
        .filter(Boolean),
    )
    .pipe(z.array(z.string()).min(1)),
  /** PEM file of further certificate authorities the storage's TLS may be signed by (a private emulator, tests) */
  ATTACHMENT_CA_FILE: z.string().optional(),
  /** longest fetch of one file, ms (reference: 30 s) */
  ATTACHMENT_TIMEOUT_MS: int(30_000).pipe(z.number().min(100)),
  /** largest total size of one email's files, bytes; more is Email_Failed_PayloadTooLarge (ACS: 10 MB) */
  ATTACHMENT_MAX_BYTES: int(10 * 1024 * 1024).pipe(z.number().min(1024)),
  /**
   * when the storage cannot answer (5xx, 408, 429, no connection, a timeout), how long before
   * the email's files are fetched again, ms (it waits on email.composed.retry, holding up no
   * other email); at most half STAGE_STALL_LIMIT_MS (send-email takes that if it is set higher),
   * as the retries' lane waits that long for its next record and a longer wait would be a stall
   */
  ATTACHMENT_RETRY_DELAY_MS: int(60_000).pipe(z.number().min(100)),
  /** how long from the storage's first failure for an email it is retried so, ms; then Email_Failed */
  ATTACHMENT_RETRY_FOR_MS: int(3_600_000).pipe(z.number().min(0)),
});
