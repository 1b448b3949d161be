import { z } from 'zod';

/**
 * SMS routes: several SMSC accounts (providers), each with its own bind, window and TPS, and
 * routes that send a number, by its longest matching prefix, to an ordered list of them. The
 * first provider of the list that is up takes the SMS; one whose bind is down, that throttles,
 * or whose receipts stopped coming is taken out and put back after its cooldown, once bound.
 */

/** The name of the provider SMSC_HOST and the SMPP_* account settings configure. */
export const DEFAULT_PROVIDER = 'default';

/** One SMSC account. */
export interface SmsProvider {
  name: string;
  host: string;
  port: number;
  systemId: string;
  password: string;
  systemType?: string | undefined;
  /** submit_sm in flight at once on this account, across every instance */
  window: number;
  /** submit_sm per second on this account, across every instance */
  tps: number;
  /** window places only the instant lane may take (default: a fifth of the window) */
  instantReserve: number;
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export const providerSchema = z
  .object({
    name: z.string().regex(NAME, 'a provider name is 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    systemId: z.string().min(1).max(15),
    password: z.string().max(8).default(''),
    systemType: z.string().max(12).optional(),
    window: z.number().int().min(1).default(10),
    tps: z.number().int().min(1).default(100),
    instantReserve: z.number().int().min(0).optional(),
  })
  .strict()
  .transform((p, ctx) => {
    const instantReserve = p.instantReserve ?? Math.floor(p.window / 5);
    if (instantReserve >= p.window) {
      ctx.addIssue({
        code: 'custom',
        message: `instantReserve ${instantReserve} of window ${p.window} would leave the queue none`,
      });
      return z.NEVER;
    }
    return { ...p, instantReserve };
  });

/** SMPP_PROVIDERS: a JSON array of providers, names unique. */
export const providersSchema = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not JSON: ${(err as Error).message}` });
      return z.NEVER;
    }
  })
  .pipe(z.array(providerSchema).min(1, 'name at least one provider'))
  .refine((list) => new Set(list.map((p) => p.name)).size === list.length, 'provider names must be unique');

/** A route: numbers starting with `prefix` (E.164, `+` and digits; `*` for any) go to `providers`, in order. */
export interface SmsRoute {
  prefix: string;
  providers: string[];
}

/**
 * SMS_ROUTES, e.g. `+47=telia,link;+46=link;*=link,telia`: semicolon-separated routes, each a
 * prefix and the providers to try, in order. Every provider named must exist; a prefix appears
 * once. Empty: every number to every provider, in the order they are declared.
 */
export function parseRoutes(spec: string, providers: readonly string[]): { routes: SmsRoute[]; problems: string[] } {
  const problems: string[] = [];
  const text = spec.trim();
  if (text === '') return { routes: [{ prefix: '*', providers: [...providers] }], problems };
  const routes: SmsRoute[] = [];
  for (const part of text.split(';').map((s) => s.trim())) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const prefix = (eq < 0 ? '' : part.slice(0, eq)).trim();
    const names = (eq < 0 ? '' : part.slice(eq + 1))
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (eq < 0 || names.length === 0) {
      problems.push(`"${part}" is not a route (prefix=provider,provider…)`);
      continue;
    }
    if (prefix !== '*' && !/^\+[1-9][0-9]{0,14}$/.test(prefix)) {
      problems.push(`"${prefix}" is not a number prefix (+ and digits, or * for any number)`);
      continue;
    }
    if (routes.some((r) => r.prefix === prefix)) problems.push(`the prefix ${prefix} is routed twice`);
    const unknown = names.filter((n) => !providers.includes(n));
    if (unknown.length > 0) problems.push(`route ${prefix} names unknown provider(s) ${unknown.join(', ')}`);
    if (new Set(names).size !== names.length) problems.push(`route ${prefix} names a provider twice`);
    routes.push({ prefix, providers: names });
  }
  if (routes.length === 0 && problems.length === 0) problems.push('no route');
  return { routes, problems };
}

/** The providers to try for `number` (E.164), in order: its longest matching prefix's, else `*`'s; none when no route matches. */
export function routeFor(routes: readonly SmsRoute[], number: string): readonly string[] {
  let best: SmsRoute | undefined;
  for (const r of routes) {
    if (r.prefix === '*') {
      if (!best) best = r;
      continue;
    }
    if (number.startsWith(r.prefix) && (!best || best.prefix === '*' || r.prefix.length > best.prefix.length)) best = r;
  }
  return best?.providers ?? [];
}

export interface HealthOptions {
  /** accepted submits with no receipt for this long (and none since) take a provider out, ms */
  receiptSilenceMs: number;
  /** how long a provider taken out stays out before it is tried again, ms */
  cooldownMs: number;
}

export type ProviderState = { up: true } | { up: false; reason: string };

/**
 * Whether one provider takes SMS now. Taken out when its bind is down, when it throttles, or
 * when its receipts stopped (submits accepted for `receiptSilenceMs` and no receipt since the
 * first of them); put back once its cooldown has passed and it is bound (a provider whose
 * receipts still do not come is taken out again after another silence).
 */
export class ProviderHealth {
  private outUntil = 0;
  private outReason = '';
  /** the first accepted submit since the last receipt (null: none waiting) */
  private waitingSince: number | null = null;

  constructor(
    private readonly isBound: () => boolean,
    private readonly o: HealthOptions,
    private readonly clock: () => number = Date.now,
  ) {}

  state(): ProviderState {
    const now = this.clock();
    if (!this.isBound()) return { up: false, reason: 'not bound' };
    if (now < this.outUntil) return { up: false, reason: this.outReason };
    if (this.waitingSince !== null && now - this.waitingSince > this.o.receiptSilenceMs) {
      this.takeOut(`no receipt for ${Math.round((now - this.waitingSince) / 1000)} s of accepted submits`);
      // tried again after the cooldown, judged on the submits it accepts from then on
      this.waitingSince = null;
      return { up: false, reason: this.outReason };
    }
    return { up: true };
  }

  /** The provider throttled (or its queue was full): out for a cooldown. */
  throttled(): void {
    this.takeOut('throttled');
  }

  accepted(): void {
    this.waitingSince ??= this.clock();
  }

  receipt(): void {
    this.waitingSince = null;
  }

  private takeOut(reason: string): void {
    this.outUntil = this.clock() + this.o.cooldownMs;
    this.outReason = reason;
  }
}

/**
 * A hand-over's reference: its parts' message ids, comma-separated; a provider's other than the
 * default one's after its name and a slash (`link/1A2B,1A2C`), since each provider numbers its
 * messages on its own.
 */
export const referenceOf = (provider: string, ids: readonly string[]) =>
  provider === DEFAULT_PROVIDER ? ids.join(',') : `${provider}/${ids.join(',')}`;

export function parseReference(reference: string): { provider: string; ids: string[] } {
  const slash = reference.indexOf('/');
  const provider = slash < 0 ? DEFAULT_PROVIDER : reference.slice(0, slash);
  return {
    provider,
    ids: reference
      .slice(slash + 1)
      .split(',')
      .filter(Boolean),
  };
}
