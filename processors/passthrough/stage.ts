import { TOPICS, type TopicKey } from '../../platform/topics.ts';
import { defineStage, emit, type Stage } from '../runtime/stage.ts';

/**
 * Copies every record of one topic to another topic of the same schema, unchanged. It is the
 * runtime with no decision in it: the benchmark and the delivery-guarantee tests use it, and
 * `orders → orders.due` with it is the "release at once" scheduler.
 */
export function passthroughStage(input: TopicKey, output: TopicKey, name = 'passthrough'): Stage {
  if (TOPICS[input].schema !== TOPICS[output].schema) {
    throw new Error(
      `passthrough needs one schema: ${input} is ${TOPICS[input].schema}, ${output} is ${TOPICS[output].schema}`,
    );
  }
  return defineStage({
    name,
    input,
    outputs: [output],
    handle: (value, ctx) => emit({ topic: output, key: ctx.key ?? '', value } as never),
  });
}
