import { nameUuid } from '../../platform/ids.ts';
import { permanent } from '../../platform/errors.ts';
import type { EnrichedOrder } from '../../platform/schemas/generated/enriched-order.ts';
import { orderOf } from '../../platform/schemas/enriched.ts';
import { defineStage, emit, type Emission, type Stage } from '../runtime/stage.ts';
import type { SendWindow } from '../../platform/notifications/window.ts';
import { resolveNotifications } from '../../platform/notifications/resolve.ts';
import { fallbackByDefault } from './options.ts';

/**
 * resolve-channel: an approved order becomes its notifications. Emails go to email.queue (a
 * composed one, with files, to email.composed), SMS to
 * sms.pending (the send window holds Daytime ones), and every notification's status, then the
 * order's, to the status topic, all in the one transaction the runtime commits. With the
 * fallback on (the order's `fallbackOnDeliveryFailure`, else FALLBACK_CREATORS), a preferred-
 * channel notification's New event carries its recipient's fallback, which status-view sends.
 */
export function resolveChannelStage(ports: {
  window: SendWindow;
  clock: () => number;
  /** creators whose preferred-channel orders fall back unless they say not to (FALLBACK_CREATORS) */
  fallbackCreators?: readonly string[];
}): Stage<'ordersApproved'> {
  return defineStage({
    name: 'resolve-channel',
    input: 'ordersApproved',
    outputs: ['emailQueue', 'emailComposed', 'smsPending', 'status'],
    handle(enriched: EnrichedOrder) {
      const order = orderOf(enriched);
      let r;
      try {
        r = resolveNotifications(order, enriched.recipients, {
          now: ports.clock(),
          window: ports.window,
          // derived: the order handled again (its transaction's outcome was lost) gives the same ids
          newId: (name) => nameUuid(`${order.orderId}\n${name}`),
          fallback: order.fallbackOnDeliveryFailure ?? fallbackByDefault(ports.fallbackCreators ?? [], order.creator),
        });
      } catch (err) {
        throw permanent('INVALID_RECORD', (err as Error).message, err);
      }
      const records: Emission[] = [
        ...r.emails.map((value): Emission => ({
          // a composed email (one with files) goes to its own lane
          topic: value.attachments ? 'emailComposed' : 'emailQueue',
          key: value.notificationId,
          value,
        })),
        ...r.sms.map((value): Emission => ({ topic: 'smsPending', key: value.notificationId, value })),
        ...r.statuses.map((value): Emission => ({ topic: 'status', key: value.orderId, value })),
      ];
      return emit(...records);
    },
  });
}
