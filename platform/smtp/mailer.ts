import net from 'node:net';
import tls from 'node:tls';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import { isSingleMailbox } from './address.ts';

/**
 * The SMTP adapter (the only module that imports nodemailer): a pooled transport, one
 * recipient per message, and a verdict per attempt that the send-email stage can act on
 * without reading error texts.
 *
 * Addresses are handed to nodemailer as address objects, for the headers and for an explicit
 * envelope, so it never parses them (a parsed string may turn into a list); and an address
 * that is not exactly one mailbox (`isSingleMailbox`) is refused here, before any connection.
 */
export interface MailerOptions {
  host: string;
  port: number;
  secure: boolean;
  user?: string | undefined;
  pass?: string | undefined;
  /** concurrent SMTP connections */
  poolSize: number;
  /** refuse servers whose certificate does not verify (turn off only for local test servers) */
  rejectUnauthorized: boolean;
  timeoutMs: number;
}

export interface Mail {
  from: string;
  to: string;
  subject: string;
  body: string;
  html: boolean;
  headers: Record<string, string>;
  /** files to attach, their bytes in hand (nodemailer is never given a path or URL to fetch) */
  attachments?: { filename: string; contentType: string; content: Buffer }[];
}

export type SendVerdict =
  /** the server accepted the message (250 after DATA) */
  | { kind: 'accepted'; reference: string }
  /**
   * the server refused it for good (5xx); `address` when the recipient address was the reason,
   * `tooLarge` when the message's size was (552 on the message, or 5.3.4)
   */
  | { kind: 'rejected'; code: number; address: boolean; tooLarge?: boolean; text: string }
  /** the sender or recipient address is not exactly one mailbox: nothing was sent */
  | { kind: 'invalid-address'; which: 'from' | 'to' }
  /** the server said not now (4xx), or a connection failed before the message was handed over */
  | { kind: 'transient'; text: string }
  /** the connection broke while the message was being handed over: it may have been accepted */
  | { kind: 'uncertain'; text: string };

// SMTP commands before DATA: a failure there proves the message was not handed over.
const BEFORE_DATA = new Set([
  'CONN',
  'EHLO',
  'HELO',
  'STARTTLS',
  'AUTH PLAIN',
  'AUTH LOGIN',
  'MAIL FROM',
  'RCPT TO',
  'API',
]);

export class Mailer {
  private readonly transport: Transporter;

  constructor(private readonly o: MailerOptions) {
    this.transport = nodemailer.createTransport({
      host: o.host,
      port: o.port,
      secure: o.secure,
      pool: true,
      maxConnections: o.poolSize,
      maxMessages: Infinity,
      ...(o.user ? { auth: { user: o.user, pass: o.pass ?? '' } } : {}),
      tls: { rejectUnauthorized: o.rejectUnauthorized },
      // nodemailer leaves Nagle on, and an SMTP exchange then waits out the peer's delayed ACK
      // (40 ms) on every message; our own socket, with TCP_NODELAY, sends in about 1 ms.
      getSocket: (_options: unknown, callback: (err: Error | null, socket?: unknown) => void) => {
        const socket = o.secure
          ? tls.connect({ host: o.host, port: o.port, servername: o.host, rejectUnauthorized: o.rejectUnauthorized })
          : net.connect({ host: o.host, port: o.port });
        socket.setNoDelay(true);
        // If it cannot connect, nodemailer gets an unconnected socket to fail with in its own
        // way. Failing here instead (callback(err)) leaks a pool slot in nodemailer: after
        // poolSize refused connections it would never send again.
        const fail = () => callback(null, { socket: new net.Socket() });
        socket.once('error', fail);
        socket.once(o.secure ? 'secureConnect' : 'connect', () => {
          socket.removeListener('error', fail);
          callback(null, { connection: socket, secured: o.secure });
        });
      },
      connectionTimeout: o.timeoutMs,
      greetingTimeout: o.timeoutMs,
      socketTimeout: o.timeoutMs,
    });
  }

  private sending = 0;

  /** messages handed to the pool and not answered yet: the pool's connections in use */
  get inFlight(): number {
    return this.sending;
  }

  /** the pool's size */
  get poolSize(): number {
    return this.o.poolSize;
  }

  async send(m: Mail): Promise<SendVerdict> {
    if (!isSingleMailbox(m.to)) return { kind: 'invalid-address', which: 'to' };
    if (!isSingleMailbox(m.from)) return { kind: 'invalid-address', which: 'from' };
    this.sending++;
    try {
      return await this.sendOne(m);
    } finally {
      this.sending--;
    }
  }

  private async sendOne(m: Mail): Promise<SendVerdict> {
    const from = { name: '', address: m.from };
    const to = { name: '', address: m.to };
    const options: SendMailOptions = {
      from,
      to,
      // @types/nodemailer types the envelope as strings; nodemailer takes address objects
      // there too, and then does not parse them (MimeNode#setEnvelope, _parseAddresses).
      envelope: { from, to: [to] } as unknown as SendMailOptions['envelope'],
      subject: m.subject,
      ...(m.html ? { html: m.body } : { text: m.body }),
      headers: m.headers,
      ...(m.attachments
        ? {
            attachments: m.attachments.map((a) => ({
              filename: a.filename,
              contentType: a.contentType,
              content: a.content,
              contentDisposition: 'attachment' as const,
            })),
          }
        : {}),
      // nothing in a message may make nodemailer read a file or fetch a URL
      disableFileAccess: true,
      disableUrlAccess: true,
    };
    try {
      const info = (await this.transport.sendMail(options)) as {
        messageId?: string;
        response?: string;
        rejected?: unknown[];
      };
      if (info.rejected && info.rejected.length > 0) {
        return { kind: 'rejected', code: 550, address: true, text: info.response ?? 'recipient rejected' };
      }
      return { kind: 'accepted', reference: info.messageId ?? info.response ?? '' };
    } catch (err) {
      const e = err as { responseCode?: number; command?: string; code?: string; message?: string };
      const text = e.message ?? String(err);
      if (typeof e.responseCode === 'number') {
        if (e.responseCode >= 500) {
          // 550/553 on RCPT, or 5.1.x enhanced codes: the address itself is the problem
          const address = e.command === 'RCPT TO' || /\b5\.1\.[0-9]\b/.test(text);
          const tooLarge = (e.responseCode === 552 && e.command !== 'RCPT TO') || /\b5\.3\.4\b/.test(text);
          return { kind: 'rejected', code: e.responseCode, address, tooLarge, text };
        }
        if (e.responseCode >= 400) return { kind: 'transient', text };
      }
      if (e.command && BEFORE_DATA.has(e.command)) return { kind: 'transient', text };
      if (!e.command && ['ECONNECTION', 'ETIMEDOUT', 'ECONNREFUSED', 'EDNS'].includes(e.code ?? '')) {
        return { kind: 'transient', text };
      }
      return { kind: 'uncertain', text };
    }
  }

  close(): void {
    this.transport.close();
  }
}
