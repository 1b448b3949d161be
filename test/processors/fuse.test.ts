import { describe, expect, it } from 'vitest';
import { permanent, retriable } from '../../platform/errors.ts';
import type { StatusEvent } from '../../platform/schemas/generated/status-event.ts';
import type { EnrichedOrder } from '../../platform/schemas/generated/enriched-order.ts';
import type { NotificationOrder } from '../../platform/schemas/generated/order.ts';
import { fuse } from '../../processors/runtime/fuse.ts';
import {
  dead,
  defer,
  defineStage,
  emit,
  retry,
  skip,
  type Outcome,
  type RecordContext,
  type Stage,
} from '../../processors/runtime/stage.ts';
import { enrichedOrder, sampleOrder } from '../support/stack.ts';

/**
 * `fuse` runs stages one after another in one hop: what a stage emits to the next one's input is
 * handed to it in memory; everything else is written. Tested here on small stages of the real
 * topics' shapes, with no Kafka: the runner writes what the fused stage answers, as for any.
 */
const ctx = {} as RecordContext;
const status = (orderId: string, s: string) => ({ orderId, status: s }) as unknown as StatusEvent;

/** first: an order becomes its enriched form and a status event */
const first = (answer?: (o: NotificationOrder) => Outcome): Stage<'ordersDue'> =>
  defineStage({
    name: 'first',
    input: 'ordersDue',
    outputs: ['ordersEnriched', 'status'],
    handle: (o: NotificationOrder) =>
      answer?.(o) ??
      emit(
        { topic: 'status', key: o.orderId, value: status(o.orderId, 'first') },
        { topic: 'ordersEnriched', key: o.orderId, value: enrichedOrder(o) },
      ),
  });

/** second: decides on the enriched order as `decide` says */
const second = (decide: (e: EnrichedOrder) => Outcome, deferral = false): Stage<'ordersEnriched'> =>
  defineStage({
    name: 'second',
    group: 'not-this-one',
    input: 'ordersEnriched',
    outputs: ['ordersApproved', 'status'],
    ...(deferral
      ? { defer: { name: 'second-retry', keyPrefix: 'second-retry:', output: 'ordersEnriched' as const } }
      : {}),
    handle: decide,
  });

/** third: an approved order becomes an email notification's status */
const third: Stage<'ordersApproved'> = defineStage({
  name: 'third',
  input: 'ordersApproved',
  outputs: ['emailQueue', 'status'],
  handle: async (e: EnrichedOrder) => emit({ topic: 'status', key: e.orderId, value: status(e.orderId, 'third') }),
});

const approve = (e: EnrichedOrder) => emit({ topic: 'ordersApproved', key: e.orderId, value: e });
const order = sampleOrder(1);
const statusesOf = (o: Outcome) =>
  (o.kind === 'emit' ? o.records : o.kind === 'dead' || o.kind === 'defer' ? (o.also ?? []) : []).map((r) =>
    r.topic === 'status' ? (r.value as { status: string }).status : r.topic,
  );

describe('fuse', () => {
  it('reads in the first stage’s group and input, writes what no fused stage reads, and keeps one deferral', () => {
    const f = fuse('all', [first(), second(approve, true), third]);
    expect(f).toMatchObject({ name: 'all', group: 'first', input: 'ordersDue' });
    expect([...f.outputs].sort()).toEqual(['emailQueue', 'status']);
    expect(f.defer).toMatchObject({ name: 'second-retry', output: 'ordersEnriched' });
  });

  it('hands each stage what the one before emitted to its input, and writes the rest in order', async () => {
    const out = await fuse('all', [first(), second(approve), third]).handle(order, ctx);
    expect(out.kind).toBe('emit');
    expect(statusesOf(out)).toEqual(['first', 'third']);
  });

  it('answers without a promise while every stage answers at once', () => {
    const syncThird = {
      ...third,
      handle: (e: EnrichedOrder) => emit({ topic: 'status', key: e.orderId, value: status(e.orderId, 'third') }),
    };
    const out = fuse('all', [first(), second(approve), syncThird]).handle(order, ctx);
    expect(out).not.toBeInstanceOf(Promise);
    expect(statusesOf(out as Outcome)).toEqual(['first', 'third']);
  });

  it('a later stage sees the headers the stage before put on what it handed on, not the input record’s', async () => {
    const logger = { info: () => undefined } as unknown as RecordContext['logger'];
    const input = {
      headers: { 'x-checked': Buffer.from('by someone') },
      logger,
      topic: 'in',
    } as unknown as RecordContext;
    const seen: RecordContext[] = [];
    const marking = first((o) =>
      emit({ topic: 'ordersEnriched', key: o.orderId, value: enrichedOrder(o), headers: { 'x-mark': 'first' } }),
    );
    const looking = second((e) => {
      seen.push(seenCtx!);
      return approve(e);
    });
    let seenCtx: RecordContext | null = null;
    const spy = { ...looking, handle: (e: EnrichedOrder, c: RecordContext) => ((seenCtx = c), looking.handle(e, c)) };
    await fuse('all', [marking, spy, third]).handle(order, input);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers).toEqual({ 'x-mark': Buffer.from('first') });
    expect(seen[0]!.logger).toBe(logger);
    expect(seen[0]!.topic).toBe('in');
  });

  it('a later stage skipping drops only what it was handed', async () => {
    const out = await fuse('all', [first(), second(() => skip('no')), third]).handle(order, ctx);
    expect(statusesOf(out)).toEqual(['first']);
  });

  it('a later stage’s retry takes the input again from the first stage', async () => {
    const err = retriable('DEPENDENCY_UNAVAILABLE', 'down');
    const out = await fuse('all', [first(), second(() => retry(err, 500)), third]).handle(order, ctx);
    expect(out).toEqual({ kind: 'retry', error: err, afterMs: 500 });
  });

  it('a later stage’s dead letter carries what the stages before it emitted', async () => {
    const err = permanent('INVALID_RECORD', 'bad');
    const out = await fuse('all', [first(), second(() => dead(err)), third]).handle(order, ctx);
    expect(out).toMatchObject({ kind: 'dead', error: err });
    expect(statusesOf(out)).toEqual(['first']);
  });

  it('a later stage’s deferral carries what the stages before it emitted', async () => {
    const held = (e: EnrichedOrder) =>
      defer({
        id: e.orderId,
        until: 5,
        value: e,
        reason: 'later',
        also: [{ topic: 'status', key: e.orderId, value: status(e.orderId, 'held') }],
      });
    const out = await fuse('all', [first(), second(held, true), third]).handle(order, ctx);
    expect(out).toMatchObject({ kind: 'defer', id: order.orderId, until: 5 });
    expect(statusesOf(out)).toEqual(['first', 'held']);
  });

  it('the first stage’s own outcome, when it hands nothing on, is the answer', async () => {
    const gone = fuse('all', [first(() => skip('gone')), second(approve), third]);
    expect(await gone.handle(order, ctx)).toEqual({ kind: 'skip', reason: 'gone' });
    const statusOnly = first((o) => emit({ topic: 'status', key: o.orderId, value: status(o.orderId, 'only') }));
    expect(statusesOf(await fuse('all', [statusOnly, second(approve), third]).handle(order, ctx))).toEqual(['only']);
  });

  it('refuses stages it cannot run in one hop', () => {
    expect(() => fuse('one', [first()])).toThrow(/at least two/);
    expect(() =>
      fuse('two', [first(), second(approve, true), { ...second(approve, true), input: 'ordersApproved' }]),
    ).toThrow(/only one of the stages may defer/);
    expect(() => fuse('three', [first(), { ...third, concurrency: 4 }])).toThrow(/cannot be fused/);
  });
});
