import { describe, expect, it } from 'vitest';
import { serialSends } from '../../platform/kafka/serial-sends.ts';

/** A sendBatch whose calls are answered by hand, recording how many were under way at once. */
function manualBatches() {
  const calls: { records: string[]; settle: (err?: Error) => void }[] = [];
  let underWay = 0;
  let most = 0;
  const sendBatch = (records: string[]) =>
    new Promise<void>((resolve, reject) => {
      underWay++;
      most = Math.max(most, underWay);
      calls.push({
        records,
        settle: (err) => {
          underWay--;
          if (err) reject(err);
          else resolve();
        },
      });
    });
  return { calls, sendBatch, most: () => most };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('serial sends through one idempotent producer', () => {
  it('never has two sends under way, and sends what waited together, in order', async () => {
    const m = manualBatches();
    const sends = serialSends(m.sendBatch, (r) => r.length, 1_000);
    const first = sends.send(['a']);
    const second = sends.send(['b']);
    const third = sends.send(['c', 'd']);
    await tick();
    expect(m.calls.map((c) => c.records)).toEqual([['a']]);
    m.calls[0]!.settle();
    await first;
    await tick();
    // what waited goes in one send, in the order it came
    expect(m.calls.map((c) => c.records)).toEqual([['a'], ['b', 'c', 'd']]);
    m.calls[1]!.settle();
    await Promise.all([second, third]);
    expect(m.most()).toBe(1);
  });

  it('fails the callers of a failed send only, and goes on with the next', async () => {
    const m = manualBatches();
    const sends = serialSends(m.sendBatch, (r) => r.length, 1_000);
    const first = sends.send(['a']);
    await tick();
    const second = sends.send(['b']);
    m.calls[0]!.settle(new Error('broker gone'));
    await expect(first).rejects.toThrow('broker gone');
    await tick();
    expect(m.calls.map((c) => c.records)).toEqual([['a'], ['b']]);
    m.calls[1]!.settle();
    await expect(second).resolves.toBeUndefined();
    expect(m.most()).toBe(1);
  });

  it('gathers no more than maxBytes into a send, and a caller larger than that alone', async () => {
    const m = manualBatches();
    const sends = serialSends(m.sendBatch, (r) => r.length, 10);
    const all = [
      sends.send(['x']),
      sends.send(['aaaa']),
      sends.send(['bbbb']),
      sends.send(['cccc']),
      sends.send(['z'.repeat(30)]),
    ];
    for (let i = 0; i < 4; i++) {
      await tick();
      m.calls.at(-1)!.settle();
    }
    await Promise.all(all);
    expect(m.calls.map((c) => c.records)).toEqual([['x'], ['aaaa', 'bbbb'], ['cccc'], ['z'.repeat(30)]]);
  });
});
