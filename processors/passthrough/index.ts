import type { StageModule } from '../runtime/wiring.ts';
import { passthroughStage } from './stage.ts';

/** passthrough: any topic to another of the same schema (PASSTHROUGH_INPUT → PASSTHROUGH_OUTPUT). */
export const passthrough: StageModule = {
  name: 'passthrough',
  build: ({ config }) => ({
    stage: passthroughStage(config.PASSTHROUGH_INPUT, config.PASSTHROUGH_OUTPUT),
    services: [],
  }),
};
