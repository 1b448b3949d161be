/**
 * Capped exponential backoff with "equal jitter" (each delay drawn from the upper half of its
 * exponential step, so it never collapses to zero): the one retry policy used everywhere.
 */
export interface BackoffOptions {
  /** first delay before jitter, ms (default 100) */
  initialMs: number;
  /** upper bound for any delay, ms (default 30 000) */
  maxMs: number;
  /** growth per attempt (default 2) */
  factor: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 100, maxMs: 30_000, factor: 2 };

/** Delay before retry number `attempt` (1-based), uniformly drawn from [d/2, d]. */
export function backoffDelay(attempt: number, opts: BackoffOptions = defaultBackoff, random = Math.random): number {
  const exp = Math.min(opts.maxMs, opts.initialMs * opts.factor ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** Sleep that ends early (resolving false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Calls `fn` until it resolves, `shouldRetry` says no, or `maxAttempts` is reached,
 * waiting a backoff delay between attempts.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: Partial<BackoffOptions> & {
    maxAttempts?: number;
    shouldRetry?: (err: unknown) => boolean;
    signal?: AbortSignal;
  } = {},
): Promise<T> {
  const policy = { ...defaultBackoff, ...opts };
  const maxAttempts = opts.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= maxAttempts || !(opts.shouldRetry?.(err) ?? true)) throw err;
      if (!(await sleep(backoffDelay(attempt, policy), opts.signal))) throw err;
    }
  }
}

/**
 * A process's start-up, step by step, each step tried again for as long as it fails (1 s doubling
 * to 10 s apart), but on an error `fatal` says waiting will not mend (a configuration the cluster
 * cannot hold). `progress` says the step under way and when its last try began or ended, for the
 * process's health while it starts: alive while tries keep ending. Exiting after a while, as the
 * processes did, only started them over, and through a long outage of Kafka or the schema
 * registry the back-off after each exit (Kubernetes', up to 5 minutes) held them down after it
 * was back.
 */
export function startupSteps(log: { warn(obj: object, msg: string): void }, fatal: (err: unknown) => boolean) {
  const progress = { step: 'starting', lastTry: Date.now() };
  const step = <T>(what: string, run: () => Promise<T>): Promise<T> => {
    Object.assign(progress, { step: what, lastTry: Date.now() });
    return withRetry(
      (attempt) =>
        run().catch((err: unknown) => {
          progress.lastTry = Date.now();
          log.warn({ err, attempt }, `${what} failed while starting; trying again`);
          throw err;
        }),
      { maxAttempts: Number.POSITIVE_INFINITY, initialMs: 1_000, maxMs: 10_000, shouldRetry: (err) => !fatal(err) },
    );
  };
  /** the health of a process still starting: never ready, alive while its tries end within `limitMs` */
  const health = (limitMs: number) => ({
    ready: () => ({ ok: false, starting: progress.step }),
    live: () => ({ ok: Date.now() - progress.lastTry < limitMs, starting: progress.step }),
  });
  return { step, health };
}

/**
 * `make()` made once and shared by every caller, as `x ??= make()` would, except that a failed
 * make is forgotten: the next caller makes it again. (`x ??= make()` keeps the rejected promise,
 * so one failure lasts as long as the process: a Kafka producer that could not connect while a
 * broker restarted left send-sms unable to record any delivery receipt until it was restarted.)
 * `made()` is what was made, or null when nothing was or its make failed (for closing it).
 */
export function madeOnce<T>(make: () => Promise<T>): { get(): Promise<T>; made(): Promise<T | null> } {
  let current: Promise<T> | null = null;
  return {
    get: () =>
      (current ??= make().catch((err: unknown) => {
        current = null;
        throw err;
      })),
    made: async () => (current ? current.catch(() => null) : null),
  };
}

/**
 * Waits for `work` at most `ms`: true once it has settled, either way, false when the time ran
 * out first. The work itself goes on; a rejection after the wait is swallowed here (the caller
 * gave it up).
 *
 * When `ms` ≤ 0 (a deadline already passed) it takes no timer: a timer set now runs after every
 * timer already due, and on a starved machine, whose event loop runs seconds late, that includes
 * the very bound the deadline was kept under (a drain's watchdog). Work that has already settled
 * still counts as settled then.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  const settling = work.then(
    () => (settled = true),
    () => (settled = true),
  );
  if (ms <= 0) {
    // a few microtask turns: long enough for a settled promise (or a chain of settled ones,
    // such as Promise.all over them) to say so, no turn of the event loop
    for (let turn = 0; turn < 8 && !settled; turn++) await null;
    return settled;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([settling, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** What `untilAborted` answers once its signal is aborted. */
export const ABORTED: unique symbol = Symbol('aborted');

/**
 * `step`'s value, or ABORTED as soon as `signal` is aborted (at once if it is already): the step
 * itself goes on, unawaited, its rejection swallowed.
 */
export function untilAborted<T>(step: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) {
    step.catch(() => undefined);
    return Promise.resolve(ABORTED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      step.catch(() => undefined);
      resolve(ABORTED);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    step.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
