import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * A real SMTP server on 127.0.0.1 for the sender's tests: it counts what it accepts per
 * `X-Notification-Id`, and answers by the recipient's local part:
 *   reject-550@…   550 5.1.1 on RCPT (the address does not exist)
 *   policy-554@…   554 5.7.1 on DATA (refused for another reason)
 *   too-large-552@…  552 5.3.4 on DATA (the message is too large)
 *   flaky-N@…      451 4.3.0 on RCPT for the first N attempts, then accepts
 *   busy-N@…       421 4.7.0 on MAIL FROM for the first N attempts (server busy), then accepts
 */
export async function startSmtpSink() {
  const accepted = new Map<string, number>();
  const bodies = new Map<string, string>();
  const attempts = new Map<string, number>();
  /** when each recipient's first message was accepted (epoch ms), and how many it got */
  const arrivals = new Map<string, number>();
  const perRecipient = new Map<string, number>();
  /** every accepted message: its envelope and its To header, as the server saw them */
  const messages: { notificationId: string; mailFrom: string; rcptTo: string[]; to: string | null; at: number }[] = [];
  let onAccept: () => void = () => undefined;
  const tries = (key: string) => {
    const n = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, n);
    return n;
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 10 * 1024 * 1024,
    onMailFrom(_address, session, cb) {
      // the recipient is not known yet at MAIL FROM; busy-N is keyed by the session's client
      cb();
      void session;
    },
    onRcptTo(address, _session, cb) {
      const local = address.address.split('@')[0]!;
      if (local === 'reject-550') return cb(Object.assign(new Error('5.1.1 No such user'), { responseCode: 550 }));
      const flaky = /^flaky-(\d+)$/.exec(local);
      if (flaky && tries(address.address) <= Number(flaky[1]))
        return cb(Object.assign(new Error('4.3.0 Try again later'), { responseCode: 451 }));
      const busy = /^busy-(\d+)$/.exec(local);
      if (busy && tries(address.address) <= Number(busy[1]))
        return cb(Object.assign(new Error('4.7.0 Too busy, closing'), { responseCode: 421 }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (session.envelope.rcptTo.some((r) => r.address.startsWith('policy-554@')))
          return cb(Object.assign(new Error('5.7.1 Message refused'), { responseCode: 554 }));
        if (session.envelope.rcptTo.some((r) => r.address.startsWith('too-large-552@')))
          return cb(Object.assign(new Error('5.3.4 Message too big for system'), { responseCode: 552 }));
        const id = /^X-Notification-Id: *(\S+)/im.exec(text)?.[1] ?? 'none';
        const headerEnd = text.indexOf('\r\n\r\n');
        const folded = /^To:(.*(?:\r\n[ \t].*)*)$/im.exec(headerEnd >= 0 ? text.slice(0, headerEnd) : text)?.[1];
        // unfolded (RFC 5322 2.2.3)
        const to = folded === undefined ? null : folded.replace(/\r\n(?=[ \t])/g, '').trim();
        const at = Date.now();
        messages.push({
          notificationId: id,
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          to,
          at,
        });
        accepted.set(id, (accepted.get(id) ?? 0) + 1);
        bodies.set(id, text);
        for (const r of session.envelope.rcptTo) {
          if (!arrivals.has(r.address)) arrivals.set(r.address, at);
          perRecipient.set(r.address, (perRecipient.get(r.address) ?? 0) + 1);
        }
        onAccept();
        cb();
      });
    },
  });
  // A client killed mid-session resets its connection; that is the client's business.
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') throw err;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    accepted,
    bodies,
    arrivals,
    perRecipient,
    messages,
    /**
     * A promise for when every one of `keys` is in `seen` (e.g. `accepted`, `arrivals`), checked
     * on every accepted message from the first key not yet seen on: a scan of all keys at every
     * message is quadratic, and at tens of thousands of messages it was most of a bench's time.
     */
    untilAll(keys: readonly string[], seen: { has(key: string): boolean }, ms: number, what: string) {
      let next = 0;
      return this.until(
        () => {
          while (next < keys.length && seen.has(keys[next]!)) next++;
          return next === keys.length;
        },
        ms,
        what,
      );
    },
    /** a promise for when `predicate` holds, checked on every accepted message */
    until(predicate: () => boolean, ms: number, what: string) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
        const check = () => {
          if (predicate()) {
            clearTimeout(timer);
            onAccept = () => undefined;
            resolve();
          }
        };
        onAccept = check;
        check();
      });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The attachments of a message as the sink received it (a multipart MIME text), decoded. */
export function attachmentsOf(raw: string): { filename: string | null; contentType: string; content: Buffer }[] {
  const boundaries = [...raw.matchAll(/boundary="?([^";\r\n]+)"?/gi)].map((m) => m[1]!);
  const parts = boundaries.reduce<string[]>((acc, b) => acc.flatMap((p) => p.split(`\r\n--${b}`)), [raw]);
  return parts.flatMap((part) => {
    const end = part.indexOf('\r\n\r\n');
    if (end < 0) return [];
    const headers = part.slice(0, end).replace(/\r\n(?=[ \t])/g, '');
    if (!/^Content-Disposition: *attachment/im.test(headers)) return [];
    // RFC 2231 (filename*0*=utf-8''…, continued in filename*1*=…), else a plain or quoted filename
    const pieces = [...headers.matchAll(/filename\*\d+\*?=([^;\r\n]+)/gi)].map((m) => m[1]!.trim());
    const filename =
      pieces.length > 0
        ? decodeURIComponent(pieces.join('').replace(/^[^']*'[^']*'/, ''))
        : (/filename="?([^";\r\n]+)"?/i.exec(headers)?.[1] ?? null);
    const contentType = /^Content-Type: *([^;\r\n]+)/im.exec(headers)?.[1]?.trim() ?? '';
    const body = part.slice(end + 4).replace(/--\s*$/, '');
    const base64 = /^Content-Transfer-Encoding: *base64/im.test(headers);
    return [{ filename, contentType, content: base64 ? Buffer.from(body, 'base64') : Buffer.from(body) }];
  });
}
