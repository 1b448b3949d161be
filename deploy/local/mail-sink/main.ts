/**
 * The local stack's SMTP sink: maildev (SMTP in, a web page of what was sent), plus what an
 * email provider does after accepting a message: it reports delivery. For each email received,
 * an Event Grid `EmailDeliveryReportReceived` for its Message-ID is posted to the gateway's
 * report webhook, so an email order placed locally reads back as Delivered, as SMS does with
 * the SMSC simulator's receipts. The recipient's local part picks the outcome:
 *   bounce…@   Bounced         spam…@   FilteredSpam        anything else   Delivered
 *
 *   tsx deploy/local/mail-sink/main.ts --smtp PORT --web PORT [--reports URL]
 *
 * Without --reports, no reports are sent. A report the gateway does not take yet (404: the
 * sender has not recorded the Message-ID; or the gateway is not up) is tried again with
 * backoff for about a minute, then given up with a log line.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import MailDev from 'maildev';

const { values } = parseArgs({
  options: {
    smtp: { type: 'string', default: '1025' },
    web: { type: 'string', default: '1080' },
    reports: { type: 'string' },
  },
});

interface ReceivedMail {
  messageId?: string;
  headers?: Record<string, string>;
  envelope?: { to?: { address: string }[] };
}

const maildev = MailDev({
  smtp: Number(values.smtp),
  web: Number(values.web),
  ip: '127.0.0.1',
  webIp: '127.0.0.1',
  silent: true,
});
const log = (msg: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }));

function outcome(mail: ReceivedMail): string {
  const local = mail.envelope?.to?.[0]?.address.split('@')[0]?.toLowerCase() ?? '';
  if (local.startsWith('bounce')) return 'Bounced';
  if (local.startsWith('spam')) return 'FilteredSpam';
  return 'Delivered';
}

async function report(url: string, messageId: string, status: string): Promise<void> {
  const body = JSON.stringify([
    {
      id: randomUUID(),
      eventType: 'Microsoft.Communication.EmailDeliveryReportReceived',
      subject: `sender/local/message/${messageId}`,
      eventTime: new Date().toISOString(),
      data: {
        messageId,
        status,
        deliveryStatusDetails: { statusMessage: `${status} (local mail sink)` },
        deliveryAttemptTimeStamp: new Date().toISOString(),
      },
    },
  ]);
  for (let attempt = 1; attempt <= 12; attempt++) {
    await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** (attempt - 1))));
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await res.arrayBuffer();
      if (res.ok) return;
      if (res.status !== 404 && res.status < 500) {
        log('delivery report refused', { messageId, status: res.status });
        return;
      }
    } catch {
      // the gateway is not up (yet): try again
    }
  }
  log('delivery report given up', { messageId });
}

maildev.on('new', (mail: ReceivedMail) => {
  // the Message-ID as sent, in its angle brackets (maildev's `messageId` drops them)
  const raw = mail.headers?.['message-id'] ?? mail.messageId;
  if (!values.reports || !raw) return;
  const messageId = raw.startsWith('<') ? raw : `<${raw}>`;
  void report(values.reports, messageId, outcome(mail));
});
maildev.listen((err) => {
  if (err) throw err;
  log('mail sink listening', { smtp: Number(values.smtp), web: Number(values.web), reports: Boolean(values.reports) });
});
