import { describe, expect, it } from 'vitest';
import { PipelineError, retriable } from '../../platform/errors.ts';
import type {
  CommitControl,
  InboundRecord,
  OutboundRecord,
  TransactionalProducer,
} from '../../platform/kafka/adapter.ts';
import { BatchingPublisher } from '../../platform/kafka/batching.ts';
import { TransactionalSink } from '../../platform/kafka/transactional-sink.ts';
import { createLogger } from '../../platform/logger.ts';

/**
 * TransactionalSink against a fake Kafka whose requests can hang, as kafkajs's do when they
 * retry without limit against a cluster that lost a broker: `send` must settle within its
 * bounds, never commit what it gave up on, fence the stuck producer at once, and say when the
 * outcome is unknown. Kafka's own behaviour is covered by the gateway's and the chaos tests.
 */
type Step = 'ok' | 'hang' | 'fail';

class FakeKafka {
  readonly producers: FakeProducer[] = [];
  /** what the next producers do, in turn: at init, in the transaction, at its commit */
  plan: { init: Step; write: Step; commit: Step }[] = [];
  /** the records committed, as the topics hold them */
  readonly stored: OutboundRecord[] = [];
  readHangs = false;
  /** the topics read to learn an outcome */
  readonly read: string[] = [];

  transactionalProducer(transactionalId: string): Promise<TransactionalProducer> {
    const p = new FakeProducer(this, transactionalId, this.plan.shift() ?? { init: 'ok', write: 'ok', commit: 'ok' });
    this.producers.push(p);
    return Promise.resolve(p);
  }

  async readSince(topic: string, _fromMs: number, onRecord: (r: InboundRecord) => void): Promise<void> {
    this.read.push(topic);
    if (this.readHangs) return new Promise(() => undefined);
    for (const r of this.stored.filter((x) => x.topic === topic))
      onRecord({
        topic: r.topic,
        partition: 0,
        offset: '0',
        key: r.key === null ? null : Buffer.from(r.key),
        value: r.value === null ? null : Buffer.from(r.value),
        headers: {},
        timestamp: '0',
      });
  }
}

const never = () => new Promise<never>(() => undefined);
const step = (s: Step) =>
  s === 'hang' ? never() : s === 'fail' ? Promise.reject(new Error('broker gone')) : undefined;

class FakeProducer implements TransactionalProducer {
  closed = false;
  /** an attempt that went on after its sink gave up on it: it must never commit */
  lateCommits = 0;
  private fenced = false;
  /** lets a hung write finish later, as a kafkajs retry does once the cluster heals */
  finishWrite: () => void = () => undefined;

  constructor(
    private readonly kafka: FakeKafka,
    readonly transactionalId: string,
    private readonly behaviour: { init: Step; write: Step; commit: Step },
  ) {}

  async init(): Promise<void> {
    await step(this.behaviour.init);
    // a new producer with the same id fences the older ones
    for (const p of this.kafka.producers) if (p !== this && p.transactionalId === this.transactionalId) p.fenced = true;
  }

  async commit(records: OutboundRecord[], _offsets?: unknown, control?: CommitControl): Promise<void> {
    if (this.behaviour.write === 'hang') await new Promise<void>((resolve) => (this.finishWrite = resolve));
    else await step(this.behaviour.write);
    if (control?.signal?.aborted) throw new Error('transaction abandoned: its caller gave up waiting');
    control?.committing?.();
    if (this.fenced) {
      this.lateCommits++;
      throw new Error('fenced');
    }
    if (this.behaviour.commit === 'hang') {
      // the commit reached the broker, and took, but its answer never comes
      this.kafka.stored.push(...records);
      return never();
    }
    await step(this.behaviour.commit);
    this.kafka.stored.push(...records);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const log = createLogger({ level: 'silent' });
const record = (n: number): OutboundRecord => ({
  topic: 't',
  key: Buffer.from(`k${n}`),
  value: Buffer.from(`v${n}`),
});
const options = { sendTimeoutMs: 200, outcomeTimeoutMs: 300 };
const code = (p: Promise<unknown>) =>
  p.then(
    () => 'stored',
    (e: unknown) => (e instanceof PipelineError ? e.code : String(e)),
  );

describe('TransactionalSink', () => {
  it('abandons a transaction stuck before its commit, fences its producer at once, and never commits it later', async () => {
    const kafka = new FakeKafka();
    kafka.plan = [{ init: 'ok', write: 'hang', commit: 'ok' }];
    const sink = new TransactionalSink(kafka, 'tx', log, options);
    await sink.start();
    const started = Date.now();
    expect(await code(sink.send([record(1)]))).toBe('DEPENDENCY_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(1_000);
    const [stuck, fresh] = kafka.producers;
    expect(stuck!.closed).toBe(true);
    // the replacement was initialised without waiting for the next batch
    await expect.poll(() => fresh?.transactionalId).toBe('tx');
    // the stuck attempt's request comes back after all: it must not commit
    stuck!.finishWrite();
    await new Promise((r) => setTimeout(r, 10));
    expect(stuck!.lateCommits).toBe(0);
    expect(kafka.stored).toEqual([]);
    // and the sink goes on with its fresh producer
    expect(await code(sink.send([record(2)]))).toBe('stored');
    expect(kafka.stored).toEqual([record(2)]);
  });

  it('learns that a commit which never answered took, and resolves', async () => {
    const kafka = new FakeKafka();
    kafka.plan = [{ init: 'ok', write: 'ok', commit: 'hang' }];
    const sink = new TransactionalSink(kafka, 'tx', log, options);
    expect(await code(sink.send([record(1), record(2)]))).toBe('stored');
  });

  it('learns the outcome from the outcome topics alone when the batch has records on them', async () => {
    const kafka = new FakeKafka();
    kafka.plan = [{ init: 'ok', write: 'ok', commit: 'hang' }];
    const sink = new TransactionalSink(kafka, 'tx', log, { ...options, outcomeTopics: ['lane'] });
    const onLane = { topic: 'lane', key: Buffer.from('n1'), value: Buffer.from('notification') };
    expect(await code(sink.send([record(1), onLane, record(2)]))).toBe('stored');
    expect(kafka.read).toEqual(['lane']);

    // a batch with none of its records there is looked for everywhere
    const other = new FakeKafka();
    other.plan = [{ init: 'ok', write: 'ok', commit: 'fail' }];
    const plain = new TransactionalSink(other, 'tx', log, { ...options, outcomeTopics: ['lane'] });
    expect(await code(plain.send([record(1)]))).toBe('DEPENDENCY_UNAVAILABLE');
    expect(other.read).toEqual(['t']);
  });

  it('says a failed commit did not take when its records are not on the topics', async () => {
    const kafka = new FakeKafka();
    kafka.plan = [{ init: 'ok', write: 'ok', commit: 'fail' }];
    const sink = new TransactionalSink(kafka, 'tx', log, options);
    expect(await code(sink.send([record(1)]))).toBe('DEPENDENCY_UNAVAILABLE');
  });

  it('says OUTCOME_UNKNOWN, in bounded time, when the outcome cannot be learnt', async () => {
    for (const plan of [
      // the replacement producer cannot be initialised
      [
        { init: 'ok', write: 'ok', commit: 'fail' },
        { init: 'hang', write: 'ok', commit: 'ok' },
      ],
      // the topics cannot be read
      [{ init: 'ok', write: 'ok', commit: 'fail' }],
    ] as const) {
      const kafka = new FakeKafka();
      kafka.plan = plan.map((p) => ({ ...p }));
      kafka.readHangs = plan.length === 1;
      const sink = new TransactionalSink(kafka, 'tx', log, options);
      const started = Date.now();
      expect(await code(sink.send([record(1)]))).toBe('OUTCOME_UNKNOWN');
      expect(Date.now() - started).toBeLessThan(options.sendTimeoutMs + options.outcomeTimeoutMs + 500);
    }
  });

  it('never gives up a batch in flight because its callers waited in the queue: a slow Kafka is slow, not stuck', async () => {
    // a sink that takes 300 ms per transaction
    const stored: OutboundRecord[] = [];
    const sink = {
      async send(records: OutboundRecord[]) {
        await new Promise((r) => setTimeout(r, 300));
        stored.push(...records);
      },
    };
    const publisher = new BatchingPublisher(sink, { timeoutMs: 400, settles: true });
    // the first flies at once; the second waits 300 ms for it, then flies past its 400 ms deadline
    const first = code(publisher.send([record(1)]));
    const second = code(publisher.send([record(2)]));
    expect([await first, await second]).toEqual(['stored', 'stored']);
    expect(stored).toEqual([record(1), record(2)]);

    // a caller still queued at its deadline is dropped: nothing of its is ever sent; the one in
    // flight gets its batch's answer, however long that took
    stored.length = 0;
    const slow = new BatchingPublisher(sink, { timeoutMs: 200, settles: true });
    const flying = code(slow.send([record(3)]));
    const queued = code(slow.send([record(4)]));
    expect(await queued).toBe('DEPENDENCY_UNAVAILABLE');
    expect(await flying).toBe('stored');
    await new Promise((r) => setTimeout(r, 400));
    expect(stored).toEqual([record(3)]);

    // a plain producer cannot take a batch back: its callers fail at the deadline, in flight too
    const plain = new BatchingPublisher(sink, { timeoutMs: 200 });
    expect(await code(plain.send([record(5)]))).toBe('DEPENDENCY_UNAVAILABLE');
  });

  it('keeps a batching publisher moving: batches behind a stuck one are sent once it is given up', async () => {
    const kafka = new FakeKafka();
    kafka.plan = [{ init: 'ok', write: 'hang', commit: 'ok' }];
    const sink = new TransactionalSink(kafka, 'tx', log, options);
    const publisher = new BatchingPublisher(sink, { timeoutMs: 5_000 });
    const first = code(publisher.send([record(1)]));
    const second = code(publisher.send([record(2)]));
    expect(await first).toBe('DEPENDENCY_UNAVAILABLE');
    expect(await second).toBe('stored');
    expect(kafka.stored).toEqual([record(2)]);
  });
});

describe('BatchingPublisher with several sinks', () => {
  /** a sink whose sends wait until released; it records what it was given */
  class HeldSink {
    readonly batches: OutboundRecord[][] = [];
    private releases: ((ok: boolean) => void)[] = [];
    send(records: OutboundRecord[]): Promise<void> {
      this.batches.push(records);
      return new Promise((resolve, reject) =>
        this.releases.push((ok) => (ok ? resolve() : reject(retriable('DEPENDENCY_UNAVAILABLE', 'broker gone')))),
      );
    }
    release(ok = true) {
      this.releases.shift()?.(ok);
    }
  }
  const fast = () => {
    const batches: OutboundRecord[][] = [];
    return {
      batches,
      async send(records: OutboundRecord[]) {
        batches.push(records);
        await new Promise((r) => setTimeout(r, 5));
      },
    };
  };

  it('has one batch in flight while it answers in time, so batches stay large, and the sinks take turns', async () => {
    const [a, b, c] = [fast(), fast(), fast()];
    const publisher = new BatchingPublisher([a, b, c], { timeoutMs: 1_000, settles: true, spareAfterMs: 500 });
    const sent = await Promise.all(Array.from({ length: 50 }, (_, n) => code(publisher.send([record(n)]))));
    expect(sent.every((c) => c === 'stored')).toBe(true);
    // the first flew alone; the other 49 gathered behind it and went through the next sink, not
    // the one that had just committed (a transactional producer's next transaction right after
    // its commit waits for the coordinator's markers)
    expect([a, b, c].map((s) => s.batches.map((x) => x.length))).toEqual([[1], [49], []]);
    // one at a time, each batch through the sink idle longest
    for (let n = 50; n < 54; n++) expect(await code(publisher.send([record(n)]))).toBe('stored');
    expect([a, b, c].map((s) => s.batches.map((x) => x.length))).toEqual([
      [1, 1],
      [49, 1],
      [1, 1],
    ]);
  });

  it('lets the next batch go through a spare sink once the one in flight is slow, and prefers one that last succeeded to one that failed', async () => {
    const stuck = new HeldSink();
    const spare = fast();
    const publisher = new BatchingPublisher([stuck, spare], { timeoutMs: 5_000, settles: true, spareAfterMs: 100 });
    const first = code(publisher.send([record(1)]));
    const started = Date.now();
    // queued behind the stuck batch: they go through the spare sink after 100 ms, not after it
    const behind = await Promise.all([code(publisher.send([record(2)])), code(publisher.send([record(3)]))]);
    expect(behind).toEqual(['stored', 'stored']);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(spare.batches).toEqual([[record(2), record(3)]]);
    // the stuck batch's callers get its own answer when it comes
    stuck.release(false);
    expect(await first).toBe('DEPENDENCY_UNAVAILABLE');
    // the spare succeeded last and the other failed: the spare carries the next batch
    expect(await code(publisher.send([record(4)]))).toBe('stored');
    expect(spare.batches.at(-1)).toEqual([record(4)]);
    expect(stuck.batches).toHaveLength(1);
  });

  it('has no more batches in flight than it has sinks', async () => {
    const sinks = [new HeldSink(), new HeldSink()];
    const publisher = new BatchingPublisher(sinks, { timeoutMs: 300, settles: true, spareAfterMs: 10 });
    const answers = [code(publisher.send([record(1)]))];
    await new Promise((r) => setTimeout(r, 50));
    // the first has been in flight past spareAfterMs: the second goes through the other sink at
    // once, and the third finds none free
    answers.push(code(publisher.send([record(2)])), code(publisher.send([record(3)])));
    await new Promise((r) => setTimeout(r, 100));
    expect(sinks.map((s) => s.batches)).toEqual([[[record(1)]], [[record(2)]]]);
    // the third waited in the queue past its deadline: dropped, never sent
    expect(await answers[2]).toBe('DEPENDENCY_UNAVAILABLE');
    for (const s of sinks) s.release();
    expect(await Promise.all(answers.slice(0, 2))).toEqual(['stored', 'stored']);
    expect(sinks.map((s) => s.batches.length)).toEqual([1, 1]);
  });
});
