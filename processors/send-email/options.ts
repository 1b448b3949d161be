import { z } from 'zod';
import { flag, int } from '../../platform/config-kit.ts';

/** send-email: the SMTP provider and its pace (and the ledger, shared with send-sms). */
export const sendEmailOptions = z.object({
  /** SMTP server of send-email */
  SMTP_HOST: z.string().optional(),
  SMTP_PORT: int(587).pipe(z.number().min(1).max(65535)),
  /** implicit TLS (port 465 style); otherwise STARTTLS is used when the server offers it */
  SMTP_SECURE: flag(false),
  SMTP_USER: z.string().optional(),
  SMTP_PASS: z.string().optional(),
  /** verify the SMTP server's certificate (turn off only for local test servers) */
  SMTP_TLS_REJECT_UNAUTHORIZED: flag(true),
  /** pooled SMTP connections per send-email process */
  SMTP_POOL_SIZE: int(5).pipe(z.number().min(1)),
  /**
   * pooled SMTP connections of the instant lane per send-email process, beside SMTP_POOL_SIZE:
   * an instant email never waits for a connection behind a campaign's
   */
  SMTP_INSTANT_POOL_SIZE: int(1).pipe(z.number().min(1)),
  /**
   * composed emails (with files) under way at once per send-email process, in a lane of their
   * own (`send-email.composed`): each fetches its files, then sends on a pooled SMTP connection
   * of that lane (this many, beside SMTP_POOL_SIZE), so slow files never hold a campaign back
   */
  COMPOSED_EMAIL_CONCURRENCY: int(5).pipe(z.number().min(1)),
  /** connection, greeting and socket timeout of SMTP, ms */
  SMTP_TIMEOUT_MS: int(30_000).pipe(z.number().min(100)),
  /** emails per second handed to the SMTP provider, shared by every send-email instance */
  EMAIL_RATE_PER_SECOND: int(200).pipe(z.number().min(1)),
});
