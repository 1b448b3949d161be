import { mayPublish, PassedOn, type PassResult, type ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import { defineStage, emit, recordSource, skip, type RecordContext, type Stage } from '../runtime/stage.ts';
import { nextSendOpportunity, type SendWindow } from '../../platform/notifications/window.ts';

/**
 * schedule-window: an SMS with the Anytime policy passes at once; one with the Daytime policy
 * passes at once inside the send window and otherwise waits in the schedule store until the
 * window next opens, when its releaser publishes it to sms.queue. (Email has no window.)
 *
 * Passing at once goes through the store too (`ScheduleStore.pass`), so that the store alone
 * decides: an SMS held just before the window opened, whose transaction then failed, is not sent
 * both by the replay (now inside the window) and by the releaser.
 */
/** How a held SMS waits in the schedule store (the releaser publishes it from this). */
const payloadOf = (sms: SmsNotification) => Buffer.from(JSON.stringify(sms));

/** When an SMS may go: at once for Anytime (or its send time), the window's next opening for Daytime. */
export function releaseAt(sms: SmsNotification, now: number, window: SendWindow): number {
  const from = Math.max(now, sms.requestedSendTime);
  return sms.sendingTimePolicy === 'Anytime' ? from : nextSendOpportunity(from, window);
}

export function scheduleWindowStage(ports: {
  store: ScheduleStore;
  window: SendWindow;
  clock: () => number;
}): Stage<'smsPending'> {
  // SMS this stage publishes itself, to be marked released once their transaction commits
  const passing = new PassedOn<SmsNotification>(ports.store, (sms) => sms.notificationId, ports.clock);
  const passOn = (sms: SmsNotification, result: PassResult) => {
    if (!mayPublish(result)) return skip(`send window: ${result}`);
    passing.add(sms);
    return emit({ topic: 'smsQueue', key: sms.notificationId, value: sms });
  };
  const decide = async (sms: SmsNotification, ctx: RecordContext) => {
    const now = ports.clock();
    const at = releaseAt(sms, now, ports.window);
    if (at <= now)
      return passOn(sms, await ports.store.pass(sms.notificationId, at, payloadOf(sms), recordSource(ctx), now));
    const result = await ports.store.schedule(sms.notificationId, at, payloadOf(sms));
    ctx.logger.debug(
      { notificationId: sms.notificationId, releaseAt: new Date(at).toISOString() },
      'held for the send window',
    );
    return skip(`send window: ${result} until ${new Date(at).toISOString()}`);
  };
  return defineStage({
    name: 'schedule-window',
    input: 'smsPending',
    outputs: ['smsQueue'],
    // A batch's SMS that may go now are claimed in a few script runs; `handle` then answers at
    // once. One not claimed ahead (held, or the window opened meanwhile) is decided on its own.
    async prepare(list: SmsNotification[], sources: string[]) {
      const now = ports.clock();
      const due = list.flatMap((sms, i) => {
        const at = releaseAt(sms, now, ports.window);
        return at <= now ? [{ value: sms, dueAt: at, payload: payloadOf(sms), source: sources[i]! }] : [];
      });
      await passing.claimAll(due, now);
    },
    handle(sms: SmsNotification, ctx) {
      const claimed = passing.claimed(sms);
      return claimed !== undefined ? passOn(sms, claimed) : decide(sms, ctx);
    },
    committed: (values: SmsNotification[]) => passing.committed(values),
  });
}
