import { describe, expect, it } from 'vitest';
import type { OutboundRecord, TransactionalProducer } from '../../platform/kafka/adapter.ts';
import {
  TransactionBatcher,
  type TransactionLimits,
  type BatchPosition,
  type Committed,
  type PartitionLink,
} from '../../processors/runtime/transactions.ts';

/** A transactional producer that records its commits, and fails or holds them on demand. */
function fakeProducer() {
  const commits: { records: string[]; offset: string }[] = [];
  let failNext = false;
  let hold: Promise<void> | null = null;
  let closed = false;
  const producer: TransactionalProducer = {
    async init() {},
    async commit(records: OutboundRecord[], offsets?: { offset: string }) {
      if (hold) await hold;
      if (failNext) {
        failNext = false;
        throw new Error('the coordinator went away');
      }
      commits.push({ records: records.map((r) => String(r.key)), offset: offsets!.offset });
    },
    async close() {
      closed = true;
    },
  } as unknown as TransactionalProducer;
  return {
    producer,
    commits,
    failNextCommit: () => void (failNext = true),
    holdCommits: () => {
      let release!: () => void;
      hold = new Promise<void>((r) => (release = r));
      return () => {
        hold = null;
        release();
      };
    },
    closed: () => closed,
  };
}

function fakePosition() {
  const moves: string[] = [];
  const position: BatchPosition = {
    resolveOffset: (o) => void moves.push(`resolve ${o}`),
    seek: (o) => void moves.push(`seek ${o}`),
    heartbeat: async () => undefined,
  };
  return { position, moves };
}

const record = (key: string, bytes = 10): OutboundRecord => ({ topic: 'out', key, value: Buffer.alloc(bytes) });

function setup(limits: TransactionLimits = { maxRecords: 3, maxBytes: 1_000 }) {
  const p = fakeProducer();
  const link: PartitionLink = {
    producer: p.producer,
    verified: true,
    tail: Promise.resolve(),
    generation: 0,
    floor: null,
  };
  const pos = fakePosition();
  const committed: Committed[] = [];
  const failures: unknown[] = [];
  const batcher = (position = pos.position) =>
    new TransactionBatcher(link, p.producer, { groupId: 'g', topic: 'in', partition: 0 }, position, limits, {
      committed: (c) => void committed.push(c),
      failed: (err) => void failures.push(err),
    });
  return { ...p, link, moves: pos.moves, committed, failures, batcher };
}

describe('stage runtime: transaction batching', () => {
  it('commits every maxRecords inputs, outputs and the next offset together, then moves the position', async () => {
    const t = setup();
    const tx = t.batcher();
    for (let i = 0; i < 7; i++) {
      const committing = tx.add(String(10 + i), [record(`k${i}`)], 10, { i });
      if (committing) await committing;
      // no promise, and no commit, until the third input
      if (i % 3 !== 2) expect(committing).toBeUndefined();
    }
    await tx.flush();
    expect(t.commits).toEqual([
      { records: ['k0', 'k1', 'k2'], offset: '13' },
      { records: ['k3', 'k4', 'k5'], offset: '16' },
      { records: ['k6'], offset: '17' },
    ]);
    expect(t.moves).toEqual(['resolve 12', 'resolve 15', 'resolve 16']);
    expect(t.committed.map((c) => c.values)).toEqual([
      [{ i: 0 }, { i: 1 }, { i: 2 }],
      [{ i: 3 }, { i: 4 }, { i: 5 }],
      [{ i: 6 }],
    ]);
  });

  it('grows by whole input records: commits before an input that would pass maxBytes', async () => {
    const t = setup({ maxRecords: 100, maxBytes: 250 });
    const tx = t.batcher();
    await tx.add('0', [record('a'), record('b')], 200);
    await tx.add('1', [record('c')], 100); // 300 > 250: a and b commit first
    await tx.add('2', [record('d')], 600); // alone, larger than maxBytes: it still goes
    await tx.flush();
    expect(t.commits.map((c) => c.records)).toEqual([['a', 'b'], ['c'], ['d']]);
  });

  it('commits a transaction that has been open maxMs with the next input, however few it holds', async () => {
    let now = 0;
    const t = setup({ maxRecords: 100, maxBytes: 10_000, maxMs: 1_000, now: () => now });
    const tx = t.batcher();
    expect(tx.add('0', [record('a')], 10)).toBeUndefined();
    now = 600;
    expect(tx.add('1', [record('b')], 10)).toBeUndefined();
    now = 1_000;
    await tx.add('2', [record('c')], 10); // open 1 s: a, b and c commit
    now = 1_500;
    expect(tx.add('3', [record('d')], 10)).toBeUndefined(); // a new transaction, opened at 1.5 s
    await tx.flush();
    expect(t.commits.map((c) => c.records)).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('leaves the position alone for a commit behind the next batch', async () => {
    const t = setup();
    const tx = t.batcher();
    tx.add('5', [record('a')], 10);
    await tx.flush(true);
    expect(t.commits).toEqual([{ records: ['a'], offset: '6' }]);
    expect(t.moves).toEqual([]);
  });

  it("runs a partition's commits one at a time, in order, across batches", async () => {
    const t = setup();
    const release = t.holdCommits();
    const first = t.batcher();
    first.add('1', [record('a')], 10);
    const behind = first.flush(true);
    const second = t.batcher();
    second.add('2', [record('b')], 10);
    const next = second.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(t.commits).toEqual([]);
    release();
    await Promise.all([behind, next]);
    expect(t.commits.map((c) => c.offset)).toEqual(['2', '3']);
  });

  it('after a failed commit: drops and closes the producer, rewinds to its first record, and no later commit goes', async () => {
    const t = setup();
    const tx = t.batcher();
    tx.add('20', [record('a')], 10);
    tx.add('21', [record('b')], 10);
    t.failNextCommit();
    await expect(tx.flush()).rejects.toThrow('the coordinator went away');
    expect(t.failures).toHaveLength(1);
    expect(t.link).toMatchObject({ producer: null, verified: false });
    expect(t.closed()).toBe(true);
    expect(t.moves).toEqual(['seek 20']);
    // what was queued behind it, with the same producer, refuses rather than skip those records
    tx.add('22', [record('c')], 10);
    await expect(tx.flush()).rejects.toThrow(/earlier transaction of this partition failed/);
    const other = t.batcher();
    other.add('23', [record('d')], 10);
    await expect(other.flush()).rejects.toThrow(/earlier transaction/);
    expect(t.commits).toEqual([]);
    expect(tx.current()).toBe(false);
  });

  it('refuses to commit a batch fetched before the partition was assigned again', async () => {
    const t = setup();
    const tx = t.batcher();
    tx.add('30', [record('a')], 10);
    t.link.generation++;
    await expect(tx.flush()).rejects.toThrow(/reassigned/);
    expect(t.commits).toEqual([]);
  });

  it('commits nothing when nothing was added', async () => {
    const t = setup();
    await t.batcher().flush();
    expect(t.commits).toEqual([]);
  });
});
