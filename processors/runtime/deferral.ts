import type { PassResult, ScheduleResult, ScheduleStore } from '../../platform/redis/schedule-store.ts';
import type { AvroCodec } from '../../platform/schemas/codec.ts';
import type { TopicKey, TopicValues } from '../../platform/topics.ts';
import type { Deferral, Deferred, Emission } from './stage.ts';

/** How a deferral came out: what to write now, and the id written directly (to mark after commit). */
export interface Settled {
  records: Emission[];
  /** set when the value itself is written in this transaction (marked released once it commits) */
  passed: string | null;
  /** why nothing is written (the id was written, or is being written, already) */
  skipped: string | null;
}

/**
 * How a held value waits in the store: as the record value its output topic carries (the
 * registry's framing, then Avro), about a quarter of its JSON (an email order: 208 bytes against
 * 851), so a schedule of orders due in weeks costs Redis that much less and each due order's
 * round trip carries that much less. A value held before as JSON (it starts with `{`; framed
 * Avro with 0) is still read. `decode` asks the registry for a writer's schema it has not read.
 */
export interface HeldValues {
  /** a value of the output topic's schema (throws, as the codec does, when it is not one) */
  encode(value: unknown): Buffer;
  decode(payload: Buffer): Promise<unknown>;
}

export function heldValues(codec: AvroCodec, output: TopicKey): HeldValues {
  return {
    // (the output's schema must be registered: a stage registers its outputs before it runs)
    encode: (value) => codec.encodeNow(output, value as TopicValues[typeof output]),
    decode: async (payload) =>
      payload[0] === 0x7b ? (JSON.parse(payload.toString('utf8')) as unknown) : codec.decode(output, payload),
  };
}

const writes = (r: PassResult) => r === 'pass' || r === 'again';

/**
 * A stage's deferrals: the runtime's side of `defer` outcomes, over the stage's schedule store.
 *
 * A value due later waits in the store until its releaser writes it. A value due already is
 * claimed in the store for the input record that deferred it (`pass`) and written in that
 * record's transaction, then marked released once the transaction commits (`committed`); if the
 * transaction does not commit, the record is read again and claims it again. So the store alone
 * decides, and nothing is written twice when the input topic is replayed or the releaser runs
 * beside the stage (see `ScheduleStore`).
 */
export class Deferrals {
  constructor(
    private readonly store: ScheduleStore,
    private readonly spec: Deferral,
    /** the held values' form in the store (`heldValues` of the spec's output) */
    private readonly held: HeldValues,
    private readonly clock: () => number,
    /** told when a value was scheduled that is due already (the releaser looks at once) */
    private readonly onDue: () => void = () => undefined,
  ) {}

  /** What the releaser writes for a held value; written directly, the same records. */
  release(value: unknown, id: string, now: number): Emission[] {
    return [
      { topic: this.spec.output, key: this.spec.keyOf?.(value, id) ?? id, value } as Emission,
      ...(this.spec.alsoEmit?.(value, now) ?? []),
    ];
  }

  /**
   * Settles one deferral for the input record `source` (topic:partition:offset). One in a gated
   * lane always waits for the releaser (its gate decides when), due already or not.
   */
  async settle(d: Deferred, source: string): Promise<Settled> {
    const now = this.clock();
    if (d.until <= now && !d.lane)
      return this.passed(d, await this.store.pass(d.id, d.until, this.held.encode(d.value), source, now), now);
    return this.scheduled(d, await this.store.schedule(d.id, d.until, this.held.encode(d.value), d.lane));
  }

  /**
   * Settles a batch's deferrals together: those due already in a few script runs, the others in
   * pipelined calls. Results in the order given.
   */
  async settleAll(list: readonly { d: Deferred; source: string }[]): Promise<Settled[]> {
    const now = this.clock();
    const due: number[] = [];
    const out: Promise<Settled>[] = [];
    list.forEach(({ d }, i) => {
      if (d.until <= now && !d.lane) due.push(i);
      else
        out[i] = this.store
          .schedule(d.id, d.until, this.held.encode(d.value), d.lane)
          .then((r) => this.scheduled(d, r));
    });
    const passes = await this.store.passMany(
      due.map((i) => ({
        id: list[i]!.d.id,
        dueAt: list[i]!.d.until,
        payload: this.held.encode(list[i]!.d.value),
        source: list[i]!.source,
      })),
      now,
    );
    due.forEach((i, k) => (out[i] = Promise.resolve(this.passed(list[i]!.d, passes[k]!, now))));
    return Promise.all(out);
  }

  /** Marks values written directly as released, once their transaction has committed. */
  async committed(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.store.passed([...ids], this.clock());
  }

  private passed(d: Deferred, result: PassResult, now: number): Settled {
    if (!writes(result)) return { records: [], passed: null, skipped: `deferral ${d.id}: ${result}` };
    return { records: [...(d.also ?? []), ...this.release(d.value, d.id, now)], passed: d.id, skipped: null };
  }

  private scheduled(d: Deferred, result: ScheduleResult): Settled {
    // 'rescheduled' too: after a crash between the Redis write and the transaction, the replay
    // finds the value waiting and must still write what goes with the decision
    if (result === 'scheduled' || result === 'rescheduled') {
      if (d.until <= this.clock()) this.onDue();
      return { records: d.also ?? [], passed: null, skipped: d.also?.length ? null : `${d.reason} (${result})` };
    }
    return { records: [], passed: null, skipped: `deferral ${d.id}: ${result}` };
  }
}
