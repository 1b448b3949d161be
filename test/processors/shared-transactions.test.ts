import { describe, expect, it } from 'vitest';
import type {
  GroupOffsets,
  OffsetTarget,
  OutboundRecord,
  TransactionalProducer,
} from '../../platform/kafka/adapter.ts';
import {
  RejoinedMeanwhile,
  SharedTransactions,
  StaleTransactionEpoch,
} from '../../processors/runtime/shared-transactions.ts';

/** Transactional producers that record their transactions, and fail or hold them on demand. */
function fakeProducers() {
  const made: { inits: number; closed: boolean }[] = [];
  const transactions: { producer: number; records: string[]; offsets: GroupOffsets }[] = [];
  let failNext = false;
  let hold: Promise<void> | null = null;
  const make = async (): Promise<TransactionalProducer> => {
    const me = made.length;
    made.push({ inits: 0, closed: false });
    return {
      transactionalId: `tx-${me}`,
      init: async () => void made[me]!.inits++,
      commit: async (records: OutboundRecord[], offsets?: OffsetTarget | GroupOffsets) => {
        if (hold) await hold;
        if (failNext) {
          failNext = false;
          throw new Error('the coordinator went away');
        }
        transactions.push({
          producer: me,
          records: records.map((r) => String(r.key)),
          offsets: offsets as GroupOffsets,
        });
      },
      close: async () => void (made[me]!.closed = true),
    };
  };
  return {
    make,
    made,
    transactions,
    failNext: () => void (failNext = true),
    hold: () => {
      let release!: () => void;
      hold = new Promise<void>((r) => (release = r));
      return () => {
        hold = null;
        release();
      };
    },
  };
}

const at = (partition: number, offset: string): OffsetTarget => ({ groupId: 'g', topic: 'in', partition, offset });
const rec = (key: string, bytes = 10): OutboundRecord => ({ topic: 'out', key, value: Buffer.alloc(bytes) });
const member = { generationId: 4, memberId: 'member-a' };

function setup(maxBytes = 100_000) {
  const fake = fakeProducers();
  const shared = new SharedTransactions({ make: fake.make, groupId: 'g', maxBytes });
  shared.member = member;
  return { fake, shared };
}

describe('transactions shared by an instance’s partitions (TRANSACTION_SCOPE=instance)', () => {
  it('commits the partitions that ask in one turn in one transaction, with the member’s generation', async () => {
    const { fake, shared } = setup();
    const p = await shared.ready();
    await Promise.all([
      p.commit([rec('a1'), rec('a2')], at(0, '10')),
      p.commit([rec('b1')], at(1, '7')),
      p.commit([], at(2, '3')),
    ]);
    expect(fake.made).toEqual([{ inits: 1, closed: false }]);
    expect(fake.transactions).toEqual([
      {
        producer: 0,
        records: ['a1', 'a2', 'b1'],
        offsets: {
          groupId: 'g',
          member,
          positions: [
            { topic: 'in', partition: 0, offset: '10' },
            { topic: 'in', partition: 1, offset: '7' },
            { topic: 'in', partition: 2, offset: '3' },
          ],
        },
      },
    ]);
  });

  it('merges the commits asked for while a transaction is under way into the next one', async () => {
    const { fake, shared } = setup();
    const p = await shared.ready();
    const release = fake.hold();
    const first = p.commit([rec('a1')], at(0, '1'));
    await new Promise((r) => setImmediate(r));
    const behind = [p.commit([rec('b1')], at(1, '1')), p.commit([rec('c1')], at(2, '1'))];
    release();
    await Promise.all([first, ...behind]);
    expect(fake.transactions.map((t) => t.records)).toEqual([['a1'], ['b1', 'c1']]);
  });

  it('keeps a transaction under its byte bound (the first commit always goes)', async () => {
    const { fake, shared } = setup(200);
    const p = await shared.ready();
    await Promise.all([
      p.commit([rec('big', 500)], at(0, '1')),
      p.commit([rec('s1', 10)], at(1, '1')),
      p.commit([rec('s2', 10)], at(2, '1')),
      p.commit([rec('s3', 100)], at(3, '1')),
    ]);
    expect(fake.transactions.map((t) => t.records)).toEqual([['big'], ['s1', 's2'], ['s3']]);
  });

  it('fails a failed transaction’s commits and every one queued behind it, then makes and initialises a new producer', async () => {
    const { fake, shared } = setup();
    const p = await shared.ready();
    const release = fake.hold();
    fake.failNext();
    const failing = p.commit([rec('a1')], at(0, '1'));
    await new Promise((r) => setImmediate(r));
    const queued = p.commit([rec('b1')], at(1, '1'));
    release();
    await expect(failing).rejects.toThrow('the coordinator went away');
    await expect(queued).rejects.toBeInstanceOf(StaleTransactionEpoch);
    expect(fake.made[0]!.closed).toBe(true);
    // what a partition still holds from before is refused, and shows as such
    expect(shared.current(p)).toBe(false);
    await expect(p.commit([rec('c1')], at(2, '1'))).rejects.toBeInstanceOf(StaleTransactionEpoch);
    const next = await shared.ready();
    expect(shared.current(next)).toBe(true);
    await next.commit([rec('a1')], at(0, '1'));
    expect(fake.made).toEqual([
      { inits: 1, closed: true },
      { inits: 1, closed: false },
    ]);
    expect(fake.transactions).toEqual([expect.objectContaining({ producer: 1, records: ['a1'] })]);
  });

  it('refuses a commit asked for before the consumer joined again (its partition may be another member’s)', async () => {
    const { fake, shared } = setup();
    const p = await shared.ready();
    const release = fake.hold();
    const first = p.commit([rec('a1')], at(0, '1'));
    await new Promise((r) => setImmediate(r));
    // queued behind the transaction under way, then the group rebalances
    const before = p.commit([rec('b1')], at(1, '1'));
    shared.member = { generationId: 5, memberId: 'member-a' };
    const after = p.commit([rec('c1')], at(2, '1'));
    release();
    await first;
    await expect(before).rejects.toBeInstanceOf(RejoinedMeanwhile);
    await after;
    expect(fake.transactions.map((t) => [t.records, t.offsets.member?.generationId])).toEqual([
      [['a1'], 4],
      [['c1'], 5],
    ]);
    // the producer goes on: only that commit was refused
    expect(shared.current(p)).toBe(true);
  });

  it('commits nothing without a group membership to fence it with', async () => {
    const { fake, shared } = setup();
    shared.member = null;
    const p = await shared.ready();
    await expect(p.commit([rec('a1')], at(0, '1'))).rejects.toThrow(/membership/);
    expect(fake.transactions).toEqual([]);
  });

  it('lets the transaction under way settle on close, then closes the producer and refuses more', async () => {
    const { fake, shared } = setup();
    const p = await shared.ready();
    const release = fake.hold();
    const under = p.commit([rec('a1')], at(0, '1'));
    await new Promise((r) => setImmediate(r));
    const closing = shared.close();
    release();
    await under;
    await closing;
    expect(fake.made[0]!.closed).toBe(true);
    await expect(p.commit([rec('b1')], at(1, '1'))).rejects.toBeInstanceOf(StaleTransactionEpoch);
    await expect(shared.ready()).rejects.toThrow(/closing/);
  });
});
