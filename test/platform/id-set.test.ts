import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IdSet } from '../../platform/view/id-set.ts';

describe('IdSet: 16-byte ids, each once', () => {
  it('tells a new id from one it holds, across its growth, as a Set of their strings does', () => {
    const ids = new IdSet();
    const strings = new Set<string>();
    const given: Buffer[] = [];
    for (let i = 0; i < 50_000; i++) {
      // (now and then an id seen before, its bytes at an offset inside a longer buffer)
      const again = i % 7 === 3 && given.length > 0;
      const id = again ? given[(i * 31) % given.length]! : Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
      if (!again) given.push(id);
      const framed = Buffer.concat([randomBytes(i % 20), id, randomBytes(3)]);
      expect(ids.add(framed, i % 20)).toBe(!strings.has(id.toString('latin1')));
      strings.add(id.toString('latin1'));
    }
    expect(ids.size).toBe(strings.size);
    for (const id of given) expect(ids.add(id)).toBe(false);
    expect(ids.size).toBe(given.length);
  });

  it('holds ids that differ only in the high bytes of their words (the slots still spread them)', () => {
    const ids = new IdSet();
    const id = Buffer.alloc(16, 0x11);
    for (let n = 0; n < 20_000; n++) {
      id[3] = n & 0xff;
      id[15] = (n >> 8) & 0xff;
      expect(ids.add(id)).toBe(true);
      expect(ids.add(id)).toBe(false);
    }
    expect(ids.size).toBe(20_000);
  });

  it('holds ids that differ in one word only, and the all-zero id', () => {
    const ids = new IdSet();
    const base = Buffer.alloc(16, 0xab);
    for (let w = 0; w < 4; w++) {
      const other = Buffer.from(base);
      other.writeUInt32LE(7, 4 * w);
      expect(ids.add(other)).toBe(true);
    }
    expect(ids.add(base)).toBe(true);
    expect(ids.add(Buffer.alloc(16))).toBe(true);
    expect(ids.add(Buffer.alloc(16))).toBe(false);
    expect(ids.add(Buffer.from(base))).toBe(false);
    expect(ids.size).toBe(6);
    expect(() => ids.add(Buffer.alloc(15))).toThrow(RangeError);
    expect(() => ids.add(Buffer.alloc(32), 17)).toThrow(RangeError);
  });
});
