import smpp, { type PDU, type Session } from 'smpp';
import { warningRuns, type Logger } from '../logger.ts';
import type { AccountLimit } from '../redis/account-limits.ts';
import { backoffDelay } from '../retry.ts';

/**
 * The SMPP adapter (the only module that imports `smpp`): one bind_transceiver session kept up
 * with reconnects and backoff, enquire_link to keep it alive, each submit_sm paced and bounded
 * by the account's `limit` (its TPS and window, shared by every instance). Delivery receipts (deliver_sm) go to
 * `onReceipt`; the deliver_sm_resp is sent only once that resolves, so a receipt that could not
 * be recorded is delivered again by the SMSC.
 */
export interface SmppOptions {
  host: string;
  port: number;
  systemId: string;
  password: string;
  systemType?: string;
  /** the SMSC account's TPS and window; a submit holds a place from its send to its answer */
  limit: AccountLimit;
  enquireLinkMs: number;
  /** how long a submit_sm waits for its response, ms */
  responseTimeoutMs: number;
  /** told the outcome of every submit (for the metrics) */
  onSubmitted?: (kind: SubmitResult['kind']) => void;
  /**
   * how long a submit waits for a bound session before it answers `unsent`, ms (default: until
   * one is bound; a sender with other providers to turn to does not wait for this one)
   */
  bindWaitMs?: number;
}

export interface SubmitFields {
  [field: string]: unknown;
}

export type SubmitResult =
  | { kind: 'accepted'; messageId: string }
  /** the SMSC answered with an error status */
  | { kind: 'error'; status: number }
  /** not written: no session (never reached the SMSC) */
  | { kind: 'unsent'; reason: string }
  /** written, but the session died or timed out before the answer: it may have been accepted */
  | { kind: 'uncertain'; reason: string };

export interface Receipt {
  messageId: string | null;
  text: string;
}

export const STATUS = { ESME_RINVDSTADR: 0x0b, ESME_RMSGQFUL: 0x14, ESME_RTHROTTLED: 0x58 } as const;

export class SmppClient {
  private session: Session | null = null;
  private bound = false;
  private closing = false;
  private attempts = 0;
  private readonly pending = new Set<(r: SubmitResult) => void>();
  private boundWaiters: (() => void)[] = [];
  private enquireTimer: NodeJS.Timeout | null = null;
  /**
   * receipts not recorded (Redis away, a replica short): each is left unacknowledged and the SMSC
   * sends it again, so a run of them (127 in one chaos run, all during its broker and Redis
   * faults) is logged as a run, not a line each
   */
  private readonly unrecorded: ReturnType<typeof warningRuns>;

  constructor(
    private readonly o: SmppOptions,
    private readonly onReceipt: (r: Receipt) => Promise<void>,
    private readonly log: Logger,
  ) {
    this.unrecorded = warningRuns(log, 'receipt not recorded; left unacknowledged', 'receipts recorded again');
  }

  start(): void {
    this.connect();
  }

  get isBound(): boolean {
    return this.bound;
  }

  /** submits written and not answered yet: this instance's share of the window in use */
  get inFlight(): number {
    return this.pending.size;
  }

  private connect(): void {
    if (this.closing) return;
    const session = smpp.connect({ host: this.o.host, port: this.o.port });
    this.session = session;
    session.on('error', (err: Error) => this.log.warn({ err: err.message }, 'SMPP connection error'));
    session.on('connect', () => {
      // Nagle would hold each submit_sm until the SMSC's delayed ACK (40 ms): off.
      (session as unknown as { socket?: { setNoDelay?: (on: boolean) => void } }).socket?.setNoDelay?.(true);
      session.bind_transceiver(
        {
          system_id: this.o.systemId,
          password: this.o.password,
          ...(this.o.systemType ? { system_type: this.o.systemType } : {}),
        },
        (pdu) => {
          if (pdu.command_status !== 0) {
            this.log.error({ status: pdu.command_status }, 'SMPP bind refused');
            session.destroy();
            return;
          }
          this.bound = true;
          this.attempts = 0;
          this.log.info({ host: this.o.host, port: this.o.port }, 'SMPP bound');
          this.enquireTimer = setInterval(() => session.enquire_link(), this.o.enquireLinkMs);
          for (const w of this.boundWaiters.splice(0)) w();
        },
      );
    });
    session.on('deliver_sm', (pdu: PDU) => {
      const text =
        typeof pdu.short_message === 'string'
          ? pdu.short_message
          : Buffer.isBuffer(pdu.short_message)
            ? pdu.short_message.toString('latin1')
            : String(pdu.short_message?.message ?? '');
      void this.onReceipt({ messageId: pdu.receipted_message_id ?? null, text }).then(
        () => {
          this.unrecorded.over();
          session.send(pdu.response());
        },
        // not acknowledged: the SMSC will deliver it again
        (err: unknown) => this.unrecorded.warn({ err }),
      );
    });
    session.on('enquire_link', (pdu: PDU) => session.send(pdu.response()));
    session.on('unbind', (pdu: PDU) => {
      session.send(pdu.response());
      session.close();
    });
    session.on('close', () => {
      this.bound = false;
      if (this.enquireTimer) clearInterval(this.enquireTimer);
      this.enquireTimer = null;
      // Every submit in flight on this session may or may not have reached the SMSC.
      for (const resolve of [...this.pending])
        resolve({ kind: 'uncertain', reason: 'SMPP session closed before the response' });
      if (this.closing) return;
      const delay = backoffDelay(++this.attempts, { initialMs: 200, maxMs: 10_000, factor: 2 });
      this.log.warn({ delay }, 'SMPP session closed; reconnecting');
      setTimeout(() => this.connect(), delay);
    });
  }

  /** Resolves when a session is bound (or the client closes), or once `ms` have passed. */
  private async whenBound(ms = Infinity): Promise<void> {
    if (this.bound || this.closing) return;
    await new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms)
        ? setTimeout(() => {
            this.boundWaiters = this.boundWaiters.filter((w) => w !== woken);
            resolve();
          }, ms)
        : null;
      const woken = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.boundWaiters.push(woken);
    });
  }

  /** `limit`: the account limit this submit counts against (a lane's own share), else the client's */
  async submit(fields: SubmitFields, limit: AccountLimit = this.o.limit): Promise<SubmitResult> {
    await this.whenBound(this.o.bindWaitMs);
    if (!this.bound) {
      this.o.onSubmitted?.('unsent');
      return { kind: 'unsent', reason: 'no bound SMPP session' };
    }
    const permit = await limit.acquire();
    try {
      const session = this.session;
      if (!session || !this.bound) {
        this.o.onSubmitted?.('unsent');
        return { kind: 'unsent', reason: 'no bound SMPP session' };
      }
      return await new Promise<SubmitResult>((resolve) => {
        let settled = false;
        const done = (r: SubmitResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.pending.delete(done);
          this.o.onSubmitted?.(r.kind);
          resolve(r);
        };
        const timer = setTimeout(
          () => done({ kind: 'uncertain', reason: `no submit_sm_resp within ${this.o.responseTimeoutMs} ms` }),
          this.o.responseTimeoutMs,
        );
        this.pending.add(done);
        session.submit_sm(fields, (pdu) =>
          done(
            pdu.command_status === 0
              ? { kind: 'accepted', messageId: String(pdu.message_id) }
              : { kind: 'error', status: pdu.command_status },
          ),
        );
      });
    } finally {
      permit.release();
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const w of this.boundWaiters.splice(0)) w();
    const session = this.session;
    if (!session) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        session.destroy();
        resolve();
      }, 2_000);
      if (this.bound) session.unbind(() => undefined);
      session.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (!this.bound) session.destroy();
    });
  }
}
