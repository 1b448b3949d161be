import type { NotificationMetrics } from '../../platform/metrics.ts';
import type { ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { orderStatus } from '../../platform/status.ts';
import type { AppliedStatus, ViewStore } from '../../platform/view/store.ts';
import { defineStage, emit, skip, type Emission, type Stage } from '../runtime/stage.ts';
import type { HeldValues } from '../runtime/deferral.ts';
import { nameUuid } from '../../platform/ids.ts';
import { expiryFor, type SendWindow } from '../../platform/notifications/window.ts';
import type { EmailNotification } from '../../platform/schemas/generated/email-notification.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';

/** Statuses a notification keeps while it waits for a delivery report (§9: still pending). */
export const AWAITING_REPORT = new Set<StatusEvent['status']>(['Email_Succeeded', 'SMS_Accepted']);
export const NOT_FINAL = new Set<StatusEvent['status']>([
  'Email_New',
  'Email_Sending',
  'Email_Succeeded',
  'Email_Failed_TransientError',
  'SMS_New',
  'SMS_Sending',
  'SMS_Accepted',
]);

export interface ExpiryPorts {
  /** where notifications awaiting a report wait for their expiry check (released to `status`) */
  store: ScheduleStore;
  /** grace after a notification's expiry before it counts as Failed_TTL (reference: 300 s) */
  graceMs: number;
  /** how a check waits in the store (`heldValues` of `status`) */
  held: HeldValues;
}

/**
 * status-view: applies every status event to the read model (order status and lifecycle, each
 * notification's status, the status feed), and completes orders (§9): once an order is
 * Processed and none of its notifications is pending (email New/Sending/Succeeded, SMS
 * New/Sending/Accepted), it emits Order_Completed, which it then applies like any event.
 *
 * Expiry (§6.2 step 14): a notification that reaches Succeeded/Accepted is scheduled for a
 * check at its expiry plus the grace; if it is still waiting for its delivery report then, the
 * schedule's releaser publishes its Failed_TTL event, which completes the order like any final
 * status. A notification that becomes final first is taken off that schedule.
 *
 * The Redis writes are idempotent and monotonic, so a replay after a crash converges; an
 * Order_Completed whose transaction was aborted is emitted again when its record is handled
 * again, by this process or another, and by no other record.
 */
export function statusViewStage(ports: {
  view: ViewStore;
  clock: () => number;
  /** the SMS send window, for a fallback SMS's expiry (SMS_WINDOW_*) */
  window?: SendWindow;
  expiry?: ExpiryPorts;
  /** told of the events of each committed transaction: for the metrics */
  committed?: (events: StatusEvent[]) => void;
}): Stage<'status'> {
  // a batch's events applied ahead in one round trip (see prepare), by event
  const appliedAhead = new WeakMap<StatusEvent, AppliedStatus>();
  return defineStage({
    name: 'status-view',
    input: 'status',
    outputs: ['status', 'emailQueue', 'smsPending'],
    // One pipeline per batch instead of one round trip per event: the apply is idempotent and
    // monotonic, and keyed by the applying record, so an event applied here and again later (its
    // batch went stale, its transaction aborted) changes nothing the second time. An event whose
    // run failed here is applied by `handle` itself.
    async prepare(events: StatusEvent[], sources: string[]) {
      const applied = await ports.view.applyAll(
        events.map((event, i) => ({ event, source: viewSource(sources[i]!) })),
        ports.clock(),
      );
      applied.forEach((a, i) => {
        if (!(a instanceof Error)) appliedAhead.set(events[i]!, a);
      });
    },
    ...(ports.committed
      ? {
          committed: async (events: StatusEvent[]) => {
            ports.committed!(events);
          },
        }
      : {}),
    async handle(event: StatusEvent, ctx) {
      // The view records which input record found the order complete: only that record emits
      // Order_Completed, also when it is handled again because its transaction was aborted (an
      // in-memory "already completing" set skipped that replay, and the order never completed).
      // (partition:offset: the topic is always the status topic, and the view keeps it per order)
      const applied =
        appliedAhead.get(event) ?? (await ports.view.apply(event, ports.clock(), `${ctx.partition}:${ctx.offset}`));
      if (event.notificationId && ports.expiry) await watchExpiry(ports.expiry, event, applied);
      if (applied.result === 'fallback' && applied.fallback)
        return emit(...fallbackRecords(event, applied.fallback, ports.window));
      if (applied.result !== 'complete') return skip(`applied (${applied.result})`);
      const done: Emission = {
        topic: 'status',
        key: event.orderId,
        value: orderStatus(event, 'Order_Completed', ports.clock()),
      };
      return emit(done);
    },
  });
}

/**
 * A fired fallback's records: each notification to its channel's queue (an SMS through
 * sms.pending, so the send window holds a Daytime one), to be sent from the time of the failure
 * that fired it, with the channel's own expiry counted from then, and its New event. Derived
 * from the failure alone (ids, event ids, times), so the very same records come again when the
 * firing record is handled again.
 */
export function fallbackRecords(
  failure: StatusEvent,
  fallback: NonNullable<StatusEvent['fallback']>,
  window?: SendWindow,
): Emission[] {
  const now = failure.occurredAt;
  return fallback.notifications.flatMap((n): Emission[] => {
    const expiry = expiryFor(n.channel, n.sendingTimePolicy, now, window);
    const base = { notificationId: n.notificationId, orderId: failure.orderId, creator: failure.creator };
    const record: Emission =
      n.channel === 'Email'
        ? {
            topic: 'emailQueue',
            key: n.notificationId,
            value: {
              ...base,
              fromAddress: n.sender,
              toAddress: n.destination,
              subject: n.subject ?? '',
              body: n.body,
              contentType: n.html ? 'Html' : 'Plain',
              requestedSendTime: now,
              expiry,
              attachments: null,
            } satisfies EmailNotification,
          }
        : {
            topic: 'smsPending',
            key: n.notificationId,
            value: {
              ...base,
              sender: n.sender,
              recipient: n.destination,
              body: n.body,
              sendingTimePolicy: n.sendingTimePolicy,
              requestedSendTime: now,
              expiry,
            } satisfies SmsNotification,
          };
    const created: StatusEvent = {
      ...orderStatus(failure, n.channel === 'Email' ? 'Email_New' : 'SMS_New', now),
      eventId: fallbackEventId(n.notificationId),
      notificationId: n.notificationId,
      channel: n.channel,
      destination: n.destination,
      description: `sent on the other channel: every notification on the preferred one failed (last ${failure.status})`,
      expiresAt: expiry,
    };
    return [record, { topic: 'status', key: failure.orderId, value: created }];
  });
}

/** The New event of a fallback notification has this id: derived, so it is the same on a replay, and tells it apart. */
export const fallbackEventId = (notificationId: string) => nameUuid(`${notificationId}\nfallback New`);

/** The view's record of the applying record, `partition:offset`, from the runtime's `topic:partition:offset`. */
function viewSource(source: string): string {
  return source.slice(source.indexOf(':') + 1);
}

/**
 * What waits in the expiry store for a notification awaiting its report: the Failed_TTL event
 * its releaser publishes at `expiresAt + graceMs` (status-view ignores it if a report came first).
 */
export function expiryEvent(event: StatusEvent, expiresAt: number, graceMs: number): StatusEvent {
  return {
    ...orderStatus(event, event.channel === 'Sms' ? 'SMS_Failed_TTL' : 'Email_Failed_TTL', expiresAt + graceMs),
    notificationId: event.notificationId,
    channel: event.channel,
    destination: event.destination,
    description: 'no delivery report before the notification expired',
    expiresAt,
  };
}

async function watchExpiry(
  expiry: ExpiryPorts,
  event: StatusEvent,
  applied: { previous: StatusEvent['status'] | null; expiresAt: number | null },
): Promise<void> {
  const id = event.notificationId!;
  if (AWAITING_REPORT.has(event.status)) {
    // Succeeded/Accepted after the notification's final status (its report, or its Failed_TTL,
    // committed before the sender's own transaction: the receipt tracker and the report webhook
    // do not wait for it; a sender's batch under load or behind a down SMSC takes seconds)
    // changed nothing in the view, and nothing is left to wait for: no check is scheduled, which
    // would publish a Failed_TTL for a delivered notification at its expiry.
    if (applied.expiresAt === null || (applied.previous !== null && !NOT_FINAL.has(applied.previous))) return;
    await expiry.store.schedule(
      id,
      applied.expiresAt + expiry.graceMs,
      expiry.held.encode(expiryEvent(event, applied.expiresAt, expiry.graceMs)),
    );
  } else if (!NOT_FINAL.has(event.status) && applied.previous !== null && AWAITING_REPORT.has(applied.previous)) {
    await expiry.store.cancel(id, Date.now());
  }
}

const FINAL_ORDER = new Set<StatusEvent['status']>([
  'Order_Completed',
  'Order_Cancelled',
  'Order_Rejected',
  'Order_SendConditionNotMet',
]);

/**
 * Counts what became of notifications and orders from committed status events: a hand-off
 * is counted by the senders; here each final notification status (by channel and result, the
 * status without its channel prefix), each final order status, and each fallback sent (its New
 * event, told by its id). An event that reaches the topic twice (an order republished after a
 * gateway crash) is counted twice.
 */
export function countFinal(m: Pick<NotificationMetrics, 'final' | 'ordersFinal' | 'fallbacks'>) {
  return (events: StatusEvent[]) => {
    for (const e of events) {
      if (e.notificationId !== null && e.channel !== null) {
        if ((e.status === 'Email_New' || e.status === 'SMS_New') && e.eventId === fallbackEventId(e.notificationId))
          m.fallbacks.inc({ channel: e.channel === 'Sms' ? 'sms' : 'email' });
        if (NOT_FINAL.has(e.status)) continue;
        const channel = e.channel === 'Sms' ? 'sms' : 'email';
        m.final.inc({ channel, result: e.status.replace(/^(SMS|Email)_/, '') });
      } else if (FINAL_ORDER.has(e.status)) m.ordersFinal.inc({ status: e.status });
    }
  };
}
