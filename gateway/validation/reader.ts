/**
 * Reading an untyped JSON body field by field, the way ASP.NET binds a model: property names
 * match case-insensitively, a value of the wrong JSON type is an error on its path, and every
 * error is collected under the property path the reference API reports (PascalCase, dotted,
 * with [i] for list items, e.g. `Recipient.RecipientEmail.EmailSettings.Subject`).
 */
export class ValidationErrors {
  readonly errors: Record<string, string[]> = {};

  add(path: string, message: string): void {
    const list = (this.errors[path] ??= []);
    if (!list.includes(message)) list.push(message);
  }

  get count(): number {
    return Object.keys(this.errors).length;
  }
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export const pascal = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);

export const join = (path: string, name: string): string => (path ? `${path}.${pascal(name)}` : pascal(name));

const TYPE_NAMES = { string: 'String', number: 'Number', boolean: 'Boolean', object: 'Object', array: 'Array' };

/** A view of one JSON object that records type errors as it is read. */
export class ObjectReader {
  private readonly keys = new Map<string, string>();

  constructor(
    readonly obj: JsonObject,
    readonly path: string,
    readonly errs: ValidationErrors,
  ) {
    for (const k of Object.keys(obj)) this.keys.set(k.toLowerCase(), k);
  }

  raw(name: string): Json | undefined {
    const k = this.keys.get(name.toLowerCase());
    return k === undefined ? undefined : this.obj[k];
  }

  private typed<T>(name: string, kind: keyof typeof TYPE_NAMES, ok: (v: Json) => v is Json & T): T | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (ok(v)) return v;
    this.errs.add(join(this.path, name), `The JSON value could not be converted to ${TYPE_NAMES[kind]}.`);
    return undefined;
  }

  string(name: string): string | undefined {
    return this.typed(name, 'string', (v): v is string => typeof v === 'string');
  }

  number(name: string): number | undefined {
    return this.typed(name, 'number', (v): v is number => typeof v === 'number' && Number.isFinite(v));
  }

  boolean(name: string): boolean | undefined {
    return this.typed(name, 'boolean', (v): v is boolean => typeof v === 'boolean');
  }

  object(name: string): ObjectReader | undefined {
    const o = this.typed(name, 'object', (v): v is JsonObject => isObject(v));
    return o === undefined ? undefined : new ObjectReader(o, join(this.path, name), this.errs);
  }

  array(name: string): Json[] | undefined {
    return this.typed(name, 'array', (v): v is Json[] => Array.isArray(v));
  }

  /**
   * An enum given as its name (any case) or its number, as .NET's string-enum converter reads
   * it; `undefined` when absent, `null` when present but not one of `values`.
   */
  enumOf<T extends string>(name: string, values: readonly T[], firstNumber = 0): T | null | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return values.find((x) => x.toLowerCase() === v.toLowerCase()) ?? null;
    if (typeof v === 'number' && Number.isInteger(v)) return values[v - firstNumber] ?? null;
    return null;
  }
}
