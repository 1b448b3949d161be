import { viewStore, type StageModule } from '../runtime/wiring.ts';
import { orderViewStage } from './stage.ts';

/** order-view: keeps every order readable by the API (REDIS_*). */
export const orderView: StageModule = {
  name: 'order-view',
  build: (deps) => ({ stage: orderViewStage({ view: viewStore(deps) }), services: [] }),
};
