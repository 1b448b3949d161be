import { mayPublish, PassedOn, type ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import { defineStage, emit, recordSource, skip, type Stage } from '../runtime/stage.ts';
import { nextSendOpportunity, type SendWindow } from './window.ts';

/**
 * schedule-window: an SMS with the Anytime policy passes at once; one with the Daytime policy
 * passes at once inside the send window and otherwise waits in the schedule store until the
 * window next opens, when its releaser publishes it to sms.queue. (Email has no window.)
 *
 * Passing at once goes through the store too (`ScheduleStore.pass`), so that the store alone
 * decides: an SMS held just before the window opened, whose transaction then failed, is not sent
 * both by the replay (now inside the window) and by the releaser.
 */
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
  return defineStage({
    name: 'schedule-window',
    input: 'smsPending',
    outputs: ['smsQueue'],
    async handle(sms: SmsNotification, ctx) {
      const now = ports.clock();
      const at = releaseAt(sms, now, ports.window);
      const payload = Buffer.from(JSON.stringify(sms));
      if (at <= now) {
        const result = await ports.store.pass(sms.notificationId, at, payload, recordSource(ctx), now);
        if (!mayPublish(result)) return skip(`send window: ${result}`);
        passing.add(sms);
        return emit({ topic: 'smsQueue', key: sms.notificationId, value: sms });
      }
      const result = await ports.store.schedule(sms.notificationId, at, payload);
      ctx.logger.debug(
        { notificationId: sms.notificationId, releaseAt: new Date(at).toISOString() },
        'held for the send window',
      );
      return skip(`send window: ${result} until ${new Date(at).toISOString()}`);
    },
    committed: (values: SmsNotification[]) => passing.committed(values),
  });
}
