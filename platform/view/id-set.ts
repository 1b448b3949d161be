const EMPTY_SLOTS = 1024;

/** the little-endian 32-bit word at `at`, unsigned (as a Uint32Array gives it back) */
const word = (b: Uint8Array, at: number) =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/**
 * A set of 16-byte ids (UUIDs as their bytes) in one typed array: open addressing with linear
 * probing, at most three quarters full, so 21–43 bytes an id where a `Set` of 16-character
 * strings takes about 60, and nothing in it for the garbage collector to trace (a daily export of
 * millions of rows keeps every id it gave; docs/architecture.md, _The daily exports_).
 */
export class IdSet {
  /** four 32-bit words a slot; all zero is an empty slot */
  private table = new Uint32Array(4 * EMPTY_SLOTS);
  private mask = EMPTY_SLOTS - 1;
  private filled = 0;
  /** the all-zero id, which an empty slot cannot hold */
  private zero = false;

  get size(): number {
    return this.filled + (this.zero ? 1 : 0);
  }

  /** Adds the id in `bytes[at, at + 16)`: true when it was not there yet. */
  add(bytes: Uint8Array, at = 0): boolean {
    if (at < 0 || at + 16 > bytes.length) throw new RangeError(`no 16-byte id at ${at} of ${bytes.length} bytes`);
    const a = word(bytes, at);
    const b = word(bytes, at + 4);
    const c = word(bytes, at + 8);
    const d = word(bytes, at + 12);
    if ((a | b | c | d) === 0) {
      if (this.zero) return false;
      return (this.zero = true);
    }
    if (4 * (this.filled + 1) > 3 * (this.mask + 1)) this.grow();
    return this.put(a, b, c, d);
  }

  private put(a: number, b: number, c: number, d: number): boolean {
    const t = this.table;
    // (the words mixed, and the product's high bits folded into the low ones the mask keeps, so
    // ids that differ only in their high bits spread too)
    const h = Math.imul(a ^ c ^ Math.imul(b ^ d, 0x85ebca6b), 0x9e3779b1);
    let i = (h ^ (h >>> 15)) & this.mask;
    for (;;) {
      const k = 4 * i;
      if ((t[k]! | t[k + 1]! | t[k + 2]! | t[k + 3]!) === 0) {
        t[k] = a;
        t[k + 1] = b;
        t[k + 2] = c;
        t[k + 3] = d;
        this.filled++;
        return true;
      }
      if (t[k] === a && t[k + 1] === b && t[k + 2] === c && t[k + 3] === d) return false;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.table;
    this.table = new Uint32Array(old.length * 2);
    this.mask = old.length / 2 - 1;
    this.filled = 0;
    for (let k = 0; k < old.length; k += 4)
      if ((old[k]! | old[k + 1]! | old[k + 2]! | old[k + 3]!) !== 0)
        this.put(old[k]!, old[k + 1]!, old[k + 2]!, old[k + 3]!);
  }
}
