import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Personal data never reaches a log line: e-mail addresses, phone numbers and national
 * identity numbers are masked wherever they appear, in messages and in any field; so are SAS
 * signatures (`sig=` in a URL).
 */
const EMAIL = /([A-Za-z0-9æøåÆØÅ._%+-])[A-Za-z0-9æøåÆØÅ._%+-]*@([A-Za-z0-9æøåÆØÅ.-]+\.[A-Za-z]{2,})/g;
// 11-digit identity numbers (stand-alone digit runs, not parts of ids such as UUIDs), before
// phone numbers eat them.
const NIN = /(?<![\w-])\d{11}(?![\w-])/g;
// +CC… or 00CC… international numbers, possibly with inner spaces; and bare 8-digit Norwegian.
const PHONE = /(?<![\w-])(\+|00)(\d[\d ]{6,16}\d)(?![\w-])|(?<![\w-])([49]\d{7})(?![\w-])/g;

// A SAS URL's signature is a credential (a composed email's files): its value never reaches a log.
const SAS_SIGNATURE = /([?&]sig=)[^&\s"'<>]+/gi;

export function maskPersonalData(text: string): string {
  return text
    .replace(SAS_SIGNATURE, '$1***')
    .replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`)
    .replace(NIN, (m) => `${m.slice(0, 6)}*****`)
    .replace(PHONE, (m) => {
      const digits = m.replace(/\D/g, '');
      return `${m.startsWith('+') ? '+' : ''}${'*'.repeat(Math.max(0, digits.length - 2))}${digits.slice(-2)}`;
    });
}

function maskValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskPersonalData(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    const { code } = value as { code?: unknown };
    return {
      type: value.name,
      message: maskPersonalData(value.message),
      ...(code !== undefined ? { code } : {}),
      ...(value.stack ? { stack: maskPersonalData(value.stack) } : {}),
      ...(value.cause !== undefined ? { cause: maskValue(value.cause, depth + 1) } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((v) => maskValue(v, depth + 1));
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = maskValue(v, depth + 1);
  return out;
}

export function createLogger(options: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  const settings: pino.LoggerOptions = {
    name: options.name ?? 'notifications',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      log: (obj) => maskValue(obj) as Record<string, unknown>,
    },
    // errors are made plain (type, masked message and stack, code, cause) by the formatter
    // above, which runs first; pino's own error serializer would then call them "Object"
    serializers: { err: (err: unknown) => err },
    hooks: {
      logMethod(args, method) {
        const masked = args.map((a) => (typeof a === 'string' ? maskPersonalData(a) : a));
        return method.apply(this, masked as Parameters<typeof method>);
      },
    },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

export type { Logger };

/**
 * A warning that comes in runs (one per reconnect while Redis is away, one per receipt while it
 * cannot be recorded): the first of a run is logged at warn at once, then at most one every
 * `everyMs`, with how many came meanwhile (`since`); `over()` after a run logs one info line,
 * `recovered`, with how many were not logged since the last (`unlogged`).
 */
export function warningRuns(
  logger: Pick<Logger, 'warn' | 'info'>,
  msg: string,
  recovered: string,
  everyMs = 30_000,
): { warn(fields: Record<string, unknown>): void; over(): void } {
  let failing = false;
  let lastLogged = 0;
  let unlogged = 0;
  return {
    warn(fields) {
      const now = Date.now();
      if (failing && now - lastLogged < everyMs) {
        unlogged++;
        return;
      }
      logger.warn({ ...fields, ...(failing ? { since: unlogged } : {}) }, msg);
      failing = true;
      lastLogged = now;
      unlogged = 0;
    },
    over() {
      if (!failing) return;
      logger.info({ unlogged }, recovered);
      failing = false;
      unlogged = 0;
    },
  };
}

/**
 * The exit code of a drain ended by its own bound (SHUTDOWN_TIMEOUT_MS), a stage process's or the
 * gateway's: safe by design (what a stage still held is settled by the next owner; a request cut
 * is tried again by its client), and told apart from a crash (1) by whoever restarts it
 * (EX_TEMPFAIL of sysexits.h).
 */
export const DRAIN_CUT_EXIT_CODE = 75;

/**
 * A process's stop: its first SIGTERM or SIGINT starts `drain`, which has `boundMs`
 * (SHUTDOWN_TIMEOUT_MS); a drain still not done then exits DRAIN_CUT_EXIT_CODE. A second signal
 * during the drain exits so at once: someone who pressed Ctrl-C twice wants the process gone, and
 * what a cut drain leaves is safe (above).
 */
export function drainOnStop(logger: Logger, boundMs: number, drain: (signal: NodeJS.Signals) => void): void {
  let draining = false;
  const stop = (signal: NodeJS.Signals) => {
    if (draining) {
      logger.warn({ signal }, 'stopped again while draining; exiting without finishing the drain');
      process.exit(DRAIN_CUT_EXIT_CODE);
    }
    draining = true;
    setTimeout(() => {
      logger.error({ timeoutMs: boundMs }, 'drain did not finish in time; exiting');
      process.exit(DRAIN_CUT_EXIT_CODE);
    }, boundMs).unref();
    drain(signal);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * A promise rejected with no one to handle it, or an exception no one caught, leaves the
 * process in a state no one knows: log it (masked, with its stack) and exit 1, so whatever
 * supervises the process (Kubernetes, `./dev up`) starts a clean one. Node would exit too, but
 * with a bare stack on stderr that a log pipeline reading JSON lines does not show.
 */
export function exitOnUnhandled(logger: Logger): void {
  process.on('unhandledRejection', (err: unknown) => {
    logger.fatal({ err }, 'unhandled promise rejection; exiting');
    process.exit(1);
  });
  process.on('uncaughtException', (err: Error) => {
    logger.fatal({ err }, 'uncaught exception; exiting');
    process.exit(1);
  });
}
