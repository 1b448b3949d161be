import { z } from 'zod';
import { int } from '../platform/config-kit.ts';

/** The gateway: its HTTP server, authentication, defaults, limits, idempotency, the feed and the email report webhook. */
export const gatewayOptions = z.object({
  /** HTTP port of the gateway (order and status API) */
  GATEWAY_PORT: int(8080).pipe(z.number().min(0).max(65535)),
  /** public base URL of the gateway, used in Location headers and links (default http://localhost:<port>) */
  GATEWAY_BASE_URL: z.string().url().optional(),
  /** JWKS URL the gateway verifies bearer tokens against (this or AUTH_PUBLIC_KEY_FILE) */
  AUTH_JWKS_URL: z.string().url().optional(),
  /** PEM file (SPKI public key, or a JWKS JSON file) the gateway verifies bearer tokens against */
  AUTH_PUBLIC_KEY_FILE: z.string().optional(),
  /** required `iss` of bearer tokens, when set */
  AUTH_ISSUER: z.string().optional(),
  /** required `aud` of bearer tokens, when set */
  AUTH_AUDIENCE: z.string().optional(),
  /** longest lifetime (s) of a bearer or Platform Access Token; every token must carry exp */
  AUTH_MAX_TOKEN_LIFETIME_S: int(3600).pipe(z.number().min(60)),
  /** folder of Platform Access Token issuers' public keys, one `<issuer>.pem` each (unset: none accepted) */
  ACCESS_TOKEN_ISSUERS_DIR: z.string().optional(),
  /** from-address of emails whose order names none */
  DEFAULT_EMAIL_FROM: z.string().default('noreply@altinn.cloud'),
  /** sender of SMS whose order names none */
  DEFAULT_SMS_SENDER: z.string().default('Altinn'),
  /** requests per second one creator may make to the order API (429 with Retry-After beyond) */
  RATE_LIMIT_PER_SECOND: int(500).pipe(z.number().min(1)),
  /** largest request body the gateway reads, bytes */
  BODY_LIMIT_BYTES: int(256 * 1024).pipe(z.number().min(1024)),
  /**
   * longest a client may take to send a whole request, headers and body, ms: one slower is
   * answered 408 and its connection closed (Node's own bound is 5 minutes, so a client trickling
   * its bytes, or a crowd of them, held a connection and its memory that long)
   */
  GATEWAY_REQUEST_TIMEOUT_MS: int(30_000).pipe(z.number().min(1_000)),
  /**
   * how long a gateway told to stop (SIGTERM) goes on taking new requests, ms, its /health
   * answering 503 and its answers closing their connections, before it stops listening: the time
   * a load balancer takes to stop sending it requests (Kubernetes takes a pod out of its
   * Service's endpoints while its SIGTERM is on its way; the chart sets 5000). Part of
   * SHUTDOWN_TIMEOUT_MS, at most half of it
   */
  GATEWAY_SHUTDOWN_DELAY_MS: int(0).pipe(z.number().min(0)),
  /** how long a replay of an order in flight waits for the first request's answer, ms */
  IDEMPOTENCY_WAIT_MS: int(10_000).pipe(z.number().min(100)),
  /** how long a claimed idempotency key is held by a request that may have died, ms */
  IDEMPOTENCY_LEASE_MS: int(30_000).pipe(z.number().min(1_000)),
  /**
   * how long an idempotencyId (or Idempotency-Key) is remembered after its order was accepted,
   * seconds (default 90 days, as the view); a repeat after that is a new request, whose derived
   * ids equal the first's, so the pipeline drops its order as a duplicate
   */
  IDEMPOTENCY_RETENTION_S: int(90 * 24 * 3600).pipe(z.number().min(3600)),
  /**
   * transactional producers (ids of their own) that write instant orders: one batch in flight
   * at a time while all is well, the producers taking turns (one that has just committed waits
   * for its coordinator's markers); a second batch flies when the one in flight is slow, so a
   * commit cut off by a broker's death does not hold up every instant order behind it
   */
  INSTANT_PRODUCERS: int(3).pipe(z.number().min(1).max(16)),
  /** status feed entries younger than this are not shown yet, ms (reference: 2 s) */
  FEED_VISIBILITY_DELAY_MS: int(2_000).pipe(z.number().min(0)),
  /** access key (`?accesskey=`) of the email delivery report webhook; the webhook is off without one */
  EMAIL_REPORT_ACCESS_KEY: z.string().min(16).optional(),
  /** `X-API-Key` of the monthly metrics page and the daily exports (`/metrics…` under the API base); refused to all without one */
  METRICS_API_KEY: z.string().min(16).optional(),
  /** the environment's name in the daily metrics exports' file names and `X-Environment` (reference: the host's environment name; unset, "Unknown") */
  METRICS_ENVIRONMENT: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, _ and -, at most 40')
    .optional(),
  /** daily metrics exports one gateway builds at once (each takes a core while it runs) */
  DAILY_EXPORT_CONCURRENCY: int(1).pipe(z.number().min(1).max(16)),
  /** daily metrics exports that may wait for a turn beyond those; more are answered 429 with Retry-After */
  DAILY_EXPORT_QUEUE: int(4).pipe(z.number().min(0).max(1000)),
  /**
   * the heap (old generation, MB) of each daily export's worker thread: a day of about six
   * million rows fits the default; an export that needs more fails with 500, the gateway lives on
   */
  DAILY_EXPORT_HEAP_MB: int(384).pipe(z.number().min(32).max(65536)),
});
