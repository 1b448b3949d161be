import type { StageModule } from '../runtime/wiring.ts';
import { windowOf } from '../../platform/notifications/window.ts';
import { resolveChannelStage } from './stage.ts';

/** resolve-channel: an approved order becomes its notifications (SMS_WINDOW_* for expiries, FALLBACK_CREATORS). */
export const resolveChannel: StageModule = {
  name: 'resolve-channel',
  build: ({ config, clock }) => ({
    stage: resolveChannelStage({ window: windowOf(config), clock, fallbackCreators: config.FALLBACK_CREATORS }),
    services: [],
  }),
};
