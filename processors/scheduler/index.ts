import { deferring, type StageModule } from '../runtime/wiring.ts';
import { schedulerStage } from './stage.ts';

/** scheduler: holds each order until its send time (a deferring stage: store and releaser from the runtime). */
export const scheduler: StageModule = {
  name: 'scheduler',
  build: (deps) => deferring(deps, schedulerStage({ clock: deps.clock })),
};
