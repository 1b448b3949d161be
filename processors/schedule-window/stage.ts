import type { SmsNotification } from '../../platform/schemas/generated/sms-notification.ts';
import { nextSendOpportunity, type SendWindow } from '../../platform/notifications/window.ts';
import { defer, defineStage, type Stage } from '../runtime/stage.ts';

/** When an SMS may go: at once for Anytime (or its send time), the window's next opening for Daytime. */
export function releaseAt(sms: SmsNotification, now: number, window: SendWindow): number {
  const from = Math.max(now, sms.requestedSendTime);
  return sms.sendingTimePolicy === 'Anytime' ? from : nextSendOpportunity(from, window);
}

/**
 * schedule-window: an SMS with the Anytime policy goes to sms.queue at once; one with the
 * Daytime policy at once inside the send window and otherwise when the window next opens. A pure
 * decision: it defers every SMS until it may go, and the runtime writes those that may go now in
 * this record's transaction, holding the rest in the window's schedule store for its releaser.
 * Passing at once goes through the store too, so the store alone decides: an SMS held just
 * before the window opened, whose transaction then failed, is not sent both by the replay (now
 * inside the window) and by the releaser. (Email has no window.)
 */
export function scheduleWindowStage(ports: { window: SendWindow; clock: () => number }): Stage<'smsPending'> {
  return defineStage({
    name: 'schedule-window',
    input: 'smsPending',
    outputs: ['smsQueue'],
    pure: true,
    defer: { name: 'schedule-window', keyPrefix: 'sms-window:', output: 'smsQueue' },
    handle(sms: SmsNotification) {
      const until = releaseAt(sms, ports.clock(), ports.window);
      return defer({
        id: sms.notificationId,
        until,
        value: sms,
        reason: `held for the send window until ${new Date(until).toISOString()}`,
      });
    },
  });
}
