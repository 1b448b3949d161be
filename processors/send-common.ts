import type { SendLedger } from '../platform/redis/send-ledger.ts';
import type { StatusEvent } from '../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../platform/status.ts';
import pLimit from 'p-limit';
import type { TopicKey, TopicValues } from '../platform/topics.ts';
import { defineStage, emit, type Outcome, type RecordContext, type Stage } from './runtime/stage.ts';

/** What the senders share: the notification's status event, and the at-most-once guard. */
export interface SentNotification {
  notificationId: string;
  orderId: string;
  creator: string;
  expiry: number;
}

export function statusReport(
  n: SentNotification,
  channel: 'Email' | 'Sms',
  destination: string,
  status: StatusEvent['status'],
  at: number,
  reference: string | null,
  description: string | null,
): Outcome {
  return emit({
    topic: 'status',
    key: n.orderId,
    value: {
      ...orderStatus(n, status, at, description),
      notificationId: n.notificationId,
      channel,
      destination,
      gatewayReference: reference,
      expiresAt: n.expiry,
    },
  });
}

/**
 * Before a hand-over: marks the notification in the send ledger, or tells what to report
 * instead of sending — the outcome recorded by an earlier attempt (a replay), `failed` when an
 * earlier attempt died inside the hand-over (unknown outcome: not sent again), `expired` when
 * it is past its expiry. Null: go ahead and send.
 */
export async function beforeHandOver(
  ledger: SendLedger,
  n: SentNotification,
  now: number,
  statuses: { failed: StatusEvent['status']; expired: StatusEvent['status'] },
  what: string,
): Promise<{ status: StatusEvent['status']; reference: string | null; description: string | null } | null> {
  const previous = await ledger.begin(n.notificationId);
  if (previous?.state === 'done') {
    return {
      status: previous.status as StatusEvent['status'],
      reference: previous.reference || null,
      description: previous.description,
    };
  }
  if (previous?.state === 'sending') {
    const description = `the sender stopped while handing this ${what} over; not sent again to avoid a duplicate`;
    await ledger.done(n.notificationId, statuses.failed, '', description);
    return { status: statuses.failed, reference: null, description };
  }
  if (now > n.expiry) {
    const description = 'expired before it could be sent';
    await ledger.done(n.notificationId, statuses.expired, '', description);
    return { status: statuses.expired, reference: null, description };
  }
  return null;
}

/** How long a hand-over may take before the sender says so in its log (once per notification). */
export const SLOW_HAND_OVER_MS = 30_000;

/** A sender's inputs: its queue, its instant lane, and send-email's composed lane and its retries. */
export type SenderInput =
  'emailQueue' | 'emailInstant' | 'emailComposed' | 'emailComposedRetry' | 'smsQueue' | 'smsInstant';

/** The stage name of a sender's lane: `send-sms`, `send-sms.instant`, `send-email.composed`, … */
export const laneName = (sender: string, input: SenderInput) =>
  input.endsWith('Instant')
    ? `${sender}.instant`
    : input.endsWith('ComposedRetry')
      ? `${sender}.composed-retry`
      : input.endsWith('Composed')
        ? `${sender}.composed`
        : sender;

/**
 * A sender's stage: `sendOne` per notification. With a `concurrency`, a partition may have that
 * many in its handler, and that many at most, across partitions, hold a hand-over place: from
 * before the ledger claim until `sendOne` says the server has answered (`handedOver`, called once
 * the outcome's write is issued; a `sendOne` that never calls it holds its place to its end).
 * Without one, one at a time per partition.
 *
 * Giving the place back at the answer does not widen what a crash can leave in doubt: the
 * outcome's write is issued on the stores' one Redis connection before the next claim, so Redis
 * has recorded it (fsync'd, with `appendfsync always`) before it answers that claim, and the
 * next hand-over starts only after that answer (a write that failed holds every claim back until
 * it is recorded: `SendLedger`). What it saves is the outcome's round trip in every place's
 * cycle: the place's next claim goes out while the outcome is still on its way.
 *
 * A notification still under way after SLOW_HAND_OVER_MS is logged (warn) with the step it is in
 * (`sendOne` marks its steps: the rate limit, the ledger, the server) or that it still waits for
 * a hand-over slot, and how many are under way and waiting: a stuck hand-over shows where.
 */
export function senderStage<I extends SenderInput>(
  name: string,
  input: I,
  concurrency: number | undefined,
  sendOne: (
    n: TopicValues[I],
    mark: (step: string) => void,
    handedOver: () => void,
    ctx: RecordContext,
  ) => Promise<Outcome>,
  /** what it writes: its statuses, and any topic `sendOne` hands a notification on to */
  outputs: readonly TopicKey[] = ['status'],
): Stage<I> {
  const limit = concurrency ? pLimit(concurrency) : null;
  return defineStage({
    name,
    concurrency: concurrency ?? 1,
    input,
    outputs: [...outputs],
    handle: (n: TopicValues[I], ctx) => {
      const since = Date.now();
      let step = 'waiting for a hand-over slot';
      const slow = setTimeout(
        () =>
          ctx.logger.warn(
            {
              orderId: n.orderId,
              notificationId: n.notificationId,
              step,
              ms: Date.now() - since,
              ...(limit ? { underWay: limit.activeCount, waiting: limit.pendingCount } : {}),
            },
            'hand-over slow',
          ),
        SLOW_HAND_OVER_MS,
      );
      slow.unref();
      const run = (handedOver: () => void) => {
        step = 'started';
        return sendOne(n, (s) => void (step = s), handedOver, ctx);
      };
      const outcome = limit
        ? new Promise<Outcome>((resolve, reject) => {
            // the place is held until the hand-over is answered, or sendOne ends
            void limit(
              () =>
                new Promise<void>((release) => {
                  run(release).then(resolve, reject).finally(release);
                }),
            );
          })
        : run(() => undefined);
      return outcome.finally(() => clearTimeout(slow));
    },
  });
}
