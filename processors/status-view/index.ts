import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import { notificationMetrics } from '../../platform/metrics.ts';
import { scheduled, viewStore, type StageModule } from '../runtime/wiring.ts';
import { heldValues } from '../runtime/deferral.ts';
import { windowOf } from '../../platform/notifications/window.ts';
import { countFinal, statusViewStage } from './stage.ts';

/**
 * status-view: applies status events to the view and completes orders; watches each notification
 * still awaiting its report until its expiry + NOTIFICATION_EXPIRY_GRACE_MS (an expiry store of
 * its own, settled by later events, so not a `defer` of its input).
 */
export const statusView: StageModule = {
  name: 'status-view',
  build: (deps) => {
    const { store, releaser } = scheduled(deps, {
      name: 'notification-expiry',
      keyPrefix: 'expiry:',
      output: 'status',
      keyOf: (value) => (value as StatusEvent).orderId,
    });
    return {
      stage: statusViewStage({
        view: viewStore(deps),
        clock: deps.clock,
        window: windowOf(deps.config),
        expiry: { store, graceMs: deps.config.NOTIFICATION_EXPIRY_GRACE_MS, held: heldValues(deps.codec, 'status') },
        committed: countFinal(notificationMetrics(deps.registry)),
      }),
      services: [releaser],
    };
  },
};
