import type { Stage } from '../runtime/stage.ts';
import type { StageDeps, StageModule } from '../runtime/wiring.ts';
import { windowOf } from '../../platform/notifications/window.ts';
import { resolveChannelStage } from './stage.ts';

/** The stage with its window (SMS_WINDOW_* for expiries) and FALLBACK_CREATORS. */
export function buildResolveChannel({ config, clock }: StageDeps): Stage<'ordersApproved'> {
  return resolveChannelStage({ window: windowOf(config), clock, fallbackCreators: config.FALLBACK_CREATORS });
}

/** resolve-channel: an approved order becomes its notifications (SMS_WINDOW_* for expiries, FALLBACK_CREATORS). */
export const resolveChannel: StageModule = {
  name: 'resolve-channel',
  build: (deps) => ({ stage: buildResolveChannel(deps), services: [] }),
};
