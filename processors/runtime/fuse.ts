import { permanent } from '../../platform/errors.ts';
import type { TopicKey } from '../../platform/topics.ts';
import type { Emission, Outcome, RecordContext, Stage } from './stage.ts';

/** an emission's headers as a record read from its topic has them */
const headersOf = (r: Emission): RecordContext['headers'] =>
  Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, Buffer.from(v)]));

/** `ctx` with other headers (its logger still the input record's, made when asked for) */
const withHeaders = (ctx: RecordContext, headers: RecordContext['headers']): RecordContext => ({
  topic: ctx.topic,
  partition: ctx.partition,
  offset: ctx.offset,
  key: ctx.key,
  timestamp: ctx.timestamp,
  attempt: ctx.attempt,
  headers,
  get logger() {
    return ctx.logger;
  },
});

const isPromise = (x: Outcome | Promise<Outcome>): x is Promise<Outcome> =>
  typeof (x as Promise<Outcome>).then === 'function';

/**
 * Stages that run one after another in one hop: the first takes the input record, and what a
 * stage emits to the next one's input topic is handed to that stage at once, in memory, instead
 * of being written to the topic and read back in a transaction of its own. What the stages emit
 * anywhere else is written, all of it in the input record's one transaction, as if the stages had
 * run apart and their records had all committed together.
 *
 * Each stage's outcome keeps its meaning: a `skip` of a later stage drops what it was handed;
 * a `retry` anywhere takes the input record again from the first stage (the stages are
 * idempotent, as for any retry); a `dead` dead-letters the input record with the other records
 * emitted so far (as the earlier stages would have committed them); a `defer` holds the value
 * in the deferring stage's schedule store (only one of the stages may defer) and the records
 * emitted so far go with it as its `also`.
 *
 * `group`: the consumer group it takes its input in, the first stage's, so it takes over from
 * that stage with its committed offsets (a rolling upgrade splits the partitions between the two;
 * each partition is one group member's). The intermediate topics stay, read by the stages on
 * their own: records a releaser or an older version writes there, and replays of dead letters,
 * still go through them.
 */
export function fuse(name: string, stages: readonly Stage[]): Stage {
  if (stages.length < 2) throw new Error(`fuse ${name}: name at least two stages`);
  for (const s of stages)
    if (s.prepare || s.committed || s.concurrency)
      throw new Error(
        `fuse ${name}: stage ${s.name} prepares, follows commits or runs concurrently; it cannot be fused`,
      );
  const deferring = stages.filter((s) => s.defer);
  if (deferring.length > 1) throw new Error(`fuse ${name}: only one of the stages may defer`);
  const handedOn = new Set<TopicKey>(stages.slice(1).map((s) => s.input));
  const outputs = [...new Set(stages.flatMap((s) => s.outputs))].filter((t) => !handedOn.has(t));
  const first = stages[0]!;

  /** stage i's outcome for `value`, with everything after it; without a promise while every stage answers at once */
  function run(i: number, value: unknown, ctx: RecordContext): Outcome | Promise<Outcome> {
    const outcome = stages[i]!.handle(value as never, ctx);
    return isPromise(outcome) ? outcome.then((o) => onward(i, o, ctx)) : onward(i, outcome, ctx);
  }

  /** stage i's outcome with what the stages after it make of what it handed on */
  function onward(i: number, outcome: Outcome, ctx: RecordContext): Outcome | Promise<Outcome> {
    const next = stages[i + 1];
    if (!next || outcome.kind !== 'emit') return outcome;
    const records: Emission[] = [];
    const handed: Emission[] = [];
    for (const r of outcome.records) (r.topic === next.input ? handed : records).push(r);
    if (handed.length === 0) return outcome;
    return each(i + 1, handed, 0, records, ctx);
  }

  /**
   * the records handed to stage i, from the k-th on, one after another, their records added to
   * `records`; each seen with the headers the stage before put on it, as read from its topic
   * (none of the input record's: they were not the next stage's to see)
   */
  function each(
    i: number,
    handed: Emission[],
    k: number,
    records: Emission[],
    ctx: RecordContext,
  ): Outcome | Promise<Outcome> {
    for (; k < handed.length; k++) {
      const r = handed[k]!;
      const o = run(i, r.value, withHeaders(ctx, headersOf(r)));
      if (isPromise(o))
        return o.then((x) => merged(i, x, handed.length, records) ?? each(i, handed, k + 1, records, ctx));
      const ends = merged(i, o, handed.length, records);
      if (ends) return ends;
    }
    return { kind: 'emit', records };
  }

  /** adds an emit's records (a skip adds none); any other outcome ends the record, with `records` as its `also` */
  function merged(i: number, o: Outcome, handed: number, records: Emission[]): Outcome | null {
    switch (o.kind) {
      case 'emit':
        records.push(...o.records);
        return null;
      case 'skip':
        return null;
      case 'retry':
        return o;
      case 'dead':
        return { ...o, also: [...records, ...(o.also ?? [])] };
      case 'defer':
        if (handed > 1)
          throw permanent(
            'UNEXPECTED',
            `fuse ${name}: ${stages[i]!.name} deferred one of several records handed to it`,
          );
        return { ...o, also: [...records, ...(o.also ?? [])] };
    }
  }

  return {
    name,
    group: first.group ?? first.name,
    input: first.input,
    outputs,
    ...(deferring[0]?.defer ? { defer: deferring[0].defer } : {}),
    // pure when every stage is: each answers at once, so the fused stage does too
    ...(stages.every((s) => s.pure) ? { pure: true } : {}),
    handle: (value, ctx) => run(0, value, ctx),
  };
}
