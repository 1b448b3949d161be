/**
 * `target` as a test hands it to the code under test: each property read asks `replace` first
 * (a fault to inject, a call to time or count), and whatever it leaves alone (undefined) is the
 * target's own, its methods bound to it. Asked at every read, so a replacement can come and go
 * while the test runs.
 */
export function overriding<T extends object>(target: T, replace: (prop: string | symbol) => unknown): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const replaced = replace(prop);
      if (replaced !== undefined) return replaced;
      const v = Reflect.get(t, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}
