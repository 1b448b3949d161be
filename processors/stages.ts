import { z } from 'zod';
import { passthroughStage } from './passthrough/stage.ts';
import type { Stage } from './runtime/stage.ts';
import { TOPICS, type TopicKey } from '../platform/topics.ts';

const topicKey = z.enum(Object.keys(TOPICS) as [TopicKey, ...TopicKey[]]);

/** Every stage this build can run, by name, built from the environment. */
export const STAGES: Record<string, (env: Record<string, string | undefined>) => Stage> = {
  passthrough: (env) =>
    passthroughStage(
      topicKey.parse(env.PASSTHROUGH_INPUT ?? 'orders'),
      topicKey.parse(env.PASSTHROUGH_OUTPUT ?? 'ordersDue'),
    ),
};
