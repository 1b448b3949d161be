import { readFileSync } from 'node:fs';
import { AttachmentFetcher } from '../../platform/http/attachment-client.ts';
import { EgressGuard } from '../../platform/http/egress.ts';
import { DeliveryRefs } from '../../platform/redis/delivery-refs.ts';
import { Mailer } from '../../platform/smtp/mailer.ts';
import { SharedAccountLimit, limitThrottle } from '../../platform/redis/account-limits.ts';
import { providerMetrics } from '../../platform/metrics.ts';
import { handOffMetric, redisPrefix, replicaWait, senderLedger, type StageModule } from '../runtime/wiring.ts';
import { sendEmailStage } from './stage.ts';

/**
 * send-email: hands each email to the SMTP provider at most once (SMTP_*, EMAIL_RATE_PER_SECOND);
 * instant emails in a lane of their own (`send-email.instant`, on `email.instant`), composed
 * ones (with files, ATTACHMENT_*) in another (`send-email.composed`, on `email.composed`), and
 * their retries when the files' storage could not answer in a third (`send-email.composed-retry`).
 */
export const sendEmail: StageModule = {
  name: 'send-email',
  build: (deps) => {
    const { config } = deps;
    if (!config.SMTP_HOST) throw new Error('SMTP_HOST is required by send-email');
    const pool = (poolSize: number) =>
      new Mailer({
        host: config.SMTP_HOST!,
        port: config.SMTP_PORT,
        secure: config.SMTP_SECURE,
        user: config.SMTP_USER,
        pass: config.SMTP_PASS,
        poolSize,
        rejectUnauthorized: config.SMTP_TLS_REJECT_UNAUTHORIZED,
        timeoutMs: config.SMTP_TIMEOUT_MS,
      });
    // The instant lane has connections of its own, so an instant email never waits for one
    // behind a campaign's; the provider's rate is shared (each lane books its own slots, the
    // lane one at a time).
    const mailer = pool(config.SMTP_POOL_SIZE);
    const instantMailer = pool(config.SMTP_INSTANT_POOL_SIZE);
    // composed emails (with files) fetch them first: on connections of their own, so a slow
    // storage never holds a plain email's connection
    const composedMailer = pool(config.COMPOSED_EMAIL_CONCURRENCY);
    for (const m of [mailer, instantMailer, composedMailer]) providerMetrics(deps.registry).smtp.add(m);
    // the retries' lane waits this long for a record: a wait the stall judgement would call a
    // stall (STAGE_STALL_LIMIT_MS) is cut to half the limit
    const retryDelayMs = Math.min(config.ATTACHMENT_RETRY_DELAY_MS, Math.floor(config.STAGE_STALL_LIMIT_MS / 2));
    if (retryDelayMs < config.ATTACHMENT_RETRY_DELAY_MS)
      deps.logger.warn(
        {
          ATTACHMENT_RETRY_DELAY_MS: config.ATTACHMENT_RETRY_DELAY_MS,
          STAGE_STALL_LIMIT_MS: config.STAGE_STALL_LIMIT_MS,
        },
        `ATTACHMENT_RETRY_DELAY_MS cut to ${retryDelayMs} ms, half the stall limit`,
      );
    const files = new AttachmentFetcher({
      guard: new EgressGuard({
        allowLoopback: config.EGRESS_ALLOW_LOOPBACK,
        allowPrivate: config.EGRESS_ALLOW_PRIVATE,
      }),
      hosts: config.ATTACHMENT_HOSTS,
      timeoutMs: config.ATTACHMENT_TIMEOUT_MS,
      maxBytes: config.ATTACHMENT_MAX_BYTES,
      ca: config.ATTACHMENT_CA_FILE ? readFileSync(config.ATTACHMENT_CA_FILE, 'utf8') : undefined,
    });
    const prefix = `${redisPrefix(config)}email-`;
    const throttle = (maxBlock?: number) =>
      limitThrottle(
        new SharedAccountLimit(deps.redis(), `${redisPrefix(config)}limits:smtp:`, {
          perSecond: config.EMAIL_RATE_PER_SECOND,
          window: 0,
          leaseMs: 0,
          ...(maxBlock ? { maxBlock } : {}),
        }),
      );
    const ledger = senderLedger(deps, prefix);
    const ports = {
      mailer,
      ledger,
      refs: new DeliveryRefs(
        deps.redis(),
        prefix,
        config.SEND_LEDGER_TTL_S,
        undefined,
        // (written and waited for with the ledger's claims)
        replicaWait(deps, 'send-ledger') ?? undefined,
      ),
      throttle: throttle(),
      clock: deps.clock,
      handedOff: handOffMetric(deps, 'email'),
      // one message under way per pooled connection
      concurrency: config.SMTP_POOL_SIZE,
    };
    return {
      stage: sendEmailStage(ports),
      lanes: [
        sendEmailStage(
          {
            ...ports,
            mailer: instantMailer,
            // one slot at a time: a block of slots it would mostly leave unused holds the queue back
            throttle: throttle(1),
            concurrency: config.SMTP_INSTANT_POOL_SIZE,
          },
          'emailInstant',
        ),
        ...(['emailComposed', 'emailComposedRetry'] as const).map((input) =>
          sendEmailStage(
            {
              ...ports,
              mailer: composedMailer,
              concurrency: config.COMPOSED_EMAIL_CONCURRENCY,
              files,
              composedRetry: { delayMs: retryDelayMs, forMs: config.ATTACHMENT_RETRY_FOR_MS },
            },
            input,
          ),
        ),
      ],
      services: [
        {
          start: () => undefined,
          close: async () => {
            mailer.close();
            instantMailer.close();
            composedMailer.close();
            // the stages are drained: no claim is left to protect by saying this process lives
            await ledger.close();
          },
          health: () => ({ ok: true, name: 'smtp-pool' }),
        },
      ],
    };
  },
};
