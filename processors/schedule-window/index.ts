import { windowOf } from '../../platform/notifications/window.ts';
import { deferring, type StageModule } from '../runtime/wiring.ts';
import { scheduleWindowStage } from './stage.ts';

/** schedule-window: holds Daytime SMS to the send window (SMS_WINDOW_*); a deferring stage. */
export const scheduleWindow: StageModule = {
  name: 'schedule-window',
  build: (deps) => deferring(deps, scheduleWindowStage({ window: windowOf(deps.config), clock: deps.clock })),
};
