import { describe, expect, it } from 'vitest';
import { SendGate } from '../../processors/scheduler/send-gate.ts';

/** A backlog reading the test answers by hand (each read waits for `answer` or `fail`). */
function readings() {
  let pending: { resolve: (n: number) => void; reject: (e: Error) => void } | null = null;
  let reads = 0;
  const settled = () => new Promise<void>((r) => setImmediate(r));
  return {
    backlog: () =>
      new Promise<number>((resolve, reject) => {
        reads++;
        pending = { resolve, reject };
      }),
    async answer(n: number) {
      pending!.resolve(n);
      pending = null;
      await settled();
    },
    async fail() {
      pending!.reject(new Error('broker down'));
      pending = null;
      await settled();
    },
    get reads() {
      return reads;
    },
  };
}

describe('send gate (the fair share closed at the release)', () => {
  it('lets paced work go at the rate, in chunks, and none while the senders have the bound or more to take', async () => {
    const r = readings();
    const failures: unknown[] = [];
    const gate = new SendGate({
      perSecond: 100,
      bound: 50,
      backlog: r.backlog,
      refreshMs: 250,
      staleMs: 5_000,
      failed: (e) => failures.push(e),
    });
    // nothing is known of the senders yet: held
    expect(gate.budget(0)).toBe(0);
    await r.answer(10);
    // a quarter of a second of the rate at most, at once
    expect(gate.budget(10)).toBe(25);
    gate.spent(25);
    // under a tenth of a second's worth: held until a chunk has gathered
    expect(gate.budget(60)).toBe(0);
    expect(gate.budget(110)).toBe(10);
    gate.spent(10);
    // the senders fall behind: held however many tokens gather
    expect(gate.budget(300)).toBe(19); // (a new read went out at 300)
    await r.answer(80);
    expect(gate.budget(1_000)).toBe(0);
    // they catch up
    await r.answer(20);
    expect(gate.budget(1_300)).toBe(25);
    expect(r.reads).toBe(4);
    // reads keep failing: the last reading grows stale and the gate holds; told once
    for (let t = 1_600; t < 7_000; t += 300) {
      gate.budget(t);
      await r.fail();
    }
    expect(gate.budget(7_000)).toBe(0);
    expect(failures).toHaveLength(1);
  });
});
