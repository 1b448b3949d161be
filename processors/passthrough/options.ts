import { z } from 'zod';
import { TOPICS, type TopicKey } from '../../platform/topics.ts';

const topicKey = z.enum(Object.keys(TOPICS) as [TopicKey, ...TopicKey[]]);

/** passthrough: which topic it copies to which (the same schema). */
export const passthroughOptions = z.object({
  PASSTHROUGH_INPUT: topicKey.default('orders'),
  PASSTHROUGH_OUTPUT: topicKey.default('ordersDue'),
});
