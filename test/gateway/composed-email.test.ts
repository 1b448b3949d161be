import { describe, expect, it } from 'vitest';
import { composedOrder } from '../../gateway/orders/map.ts';
import { validateComposedEmail } from '../../gateway/validation/composed-email.ts';
import { orderRecordProblems } from '../../platform/validation/order-record.ts';
import { sampleOrder } from '../support/stack.ts';

const NOW = Date.parse('2026-12-05T10:00:00Z');
const HOSTS = ['blob.core.windows.net'];
const sas = (o: { host?: string; se?: string | null; sp?: string; sr?: string; sig?: string | null } = {}) => {
  const q = new URLSearchParams({ sv: '2024-11-04' });
  if (o.se !== null) q.set('se', o.se ?? '2026-12-06T10:00:00Z');
  q.set('sp', o.sp ?? 'r');
  q.set('sr', o.sr ?? 'b');
  if (o.sig !== null) q.set('sig', o.sig ?? 'abc');
  return `https://${o.host ?? 'acct.blob.core.windows.net'}/files/a.pdf?${q.toString()}`;
};
const body = (attachments: unknown, extra: Record<string, unknown> = {}) => ({
  idempotencyId: 'composed-1',
  sendersReference: 'ref-1',
  recipient: {
    emailAddress: 'someone@example.com',
    emailSettings: { subject: 'Vedtak', body: 'Se vedlegg.', contentType: 'Plain', attachments },
  },
  ...extra,
});
const errorsOf = (b: unknown) => {
  const v = validateComposedEmail(b, NOW, HOSTS);
  return v.ok ? {} : v.errors;
};
const A = 'Recipient.EmailSettings.Attachments[0]';

/** Reference §3.5 and §4: `POST /future/orders/composed-email`, its rules and exact messages. */
describe('POST /future/orders/composed-email validation', () => {
  it('accepts one email with files, spelling each MIME type as the allow-list does, as one Composed order', () => {
    const v = validateComposedEmail(
      body([{ filename: 'Vedtak 2026.pdf', mimeType: 'APPLICATION/PDF', sasUrl: sas() }]),
      NOW,
      HOSTS,
    );
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.value.attachments).toEqual([{ filename: 'Vedtak 2026.pdf', mimeType: 'application/pdf', sasUrl: sas() }]);
    expect(v.value.requestedSendTime).toBe(NOW);
    const order = composedOrder(v.value, 'ttd', NOW, { emailFrom: 'noreply@altinn.cloud', smsSender: 'Altinn' });
    expect(order).toMatchObject({
      type: 'Composed',
      notificationChannel: 'Email',
      sendingTimePolicy: 'Anytime',
      sendersReference: 'ref-1',
      recipients: [{ emailAddress: 'someone@example.com' }],
      emailTemplate: { fromAddress: 'noreply@altinn.cloud', subject: 'Vedtak', body: 'Se vedlegg.' },
      attachments: v.value.attachments,
    });
    expect(orderRecordProblems(order)).toEqual([]);
  });

  it('needs the recipient, its address, its settings and at least one attachment', () => {
    expect(errorsOf({ idempotencyId: 'x' })).toEqual({ Recipient: ["'Recipient' must not be empty."] });
    expect(errorsOf({ idempotencyId: '', recipient: { emailAddress: 'nope' } })).toEqual({
      IdempotencyId: ['IdempotencyId cannot be null or empty.'],
      'Recipient.EmailAddress': ['Invalid email address format.'],
      'Recipient.EmailSettings': ['Recipient email settings cannot be null.'],
    });
    expect(errorsOf(body([]))).toEqual({
      'Recipient.EmailSettings.Attachments': ['At least one attachment is required.'],
    });
    expect(errorsOf(body(undefined))).toEqual({
      'Recipient.EmailSettings.Attachments': ['At least one attachment is required.'],
    });
    expect(errorsOf(body([null]))).toEqual({ [A]: ['Attachment item must not be null.'] });
  });

  it('checks each attachment with the reference’s messages', () => {
    const one = (a: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      errorsOf(body([{ filename: 'a.pdf', mimeType: 'application/pdf', sasUrl: sas(), ...a }], extra));
    expect(one({ filename: '' })).toEqual({ [`${A}.Filename`]: ['Attachment filename must not be empty.'] });
    for (const filename of ['../a.pdf', 'dir\\a.pdf', 'noextension', 'trailing.'])
      expect(one({ filename }), filename).toEqual({
        [`${A}.Filename`]: [
          `Attachment '${filename}': filename must not contain path separators or traversal sequences, and must include a file extension.`,
        ],
      });
    // this platform's own rule: the name goes into a MIME header
    expect(one({ filename: 'a\r\nBcc: x@example.com.pdf' })).toEqual({
      [`${A}.Filename`]: ["Attachment 'a\r\nBcc: x@example.com.pdf': filename must not contain control characters."],
    });
    expect(one({ sasUrl: '' })).toEqual({ [`${A}.SasUrl`]: ["Attachment 'a.pdf': sasUrl must not be empty."] });
    // not HTTPS: and, as the request's own rule reports it, no valid expiry either
    expect(one({ sasUrl: 'http://acct.blob.core.windows.net/f/a.pdf?sp=r&sr=b&sig=x' })).toEqual({
      [`${A}.SasUrl`]: ["Attachment 'a.pdf': sasUrl must be an absolute HTTPS URI."],
      [A]: ["Attachment 'a.pdf': sasUrl is missing a valid 'se' (signed expiry) parameter."],
    });
    expect(one({ sasUrl: sas({ sig: null, sr: 'c' }) })).toEqual({
      [`${A}.SasUrl`]: ["Attachment 'a.pdf': sasUrl is missing required SAS parameters (se, sig, sp, sr)."],
    });
    expect(one({ sasUrl: sas({ se: 'tomorrow' }) })).toEqual({
      [`${A}.SasUrl`]: ["Attachment 'a.pdf': sasUrl has an invalid 'se' (signed expiry) value."],
      [A]: ["Attachment 'a.pdf': sasUrl is missing a valid 'se' (signed expiry) parameter."],
    });
    expect(one({ sasUrl: sas({ sp: 'w' }) })).toEqual({
      [`${A}.SasUrl`]: ["Attachment 'a.pdf': sasUrl does not grant read permission ('r' must be present in 'sp')."],
    });
    // valid until 14 minutes after the send time: too short; a date alone is midnight UTC
    expect(one({ sasUrl: sas({ se: '2026-12-05T10:14:00Z' }) })).toEqual({
      [A]: ["Attachment 'a.pdf': sasUrl must be valid for at least 15 minutes after requestedSendTime."],
    });
    expect(one({ sasUrl: sas({ se: '2026-12-07T10:15:00Z' }) }, { requestedSendTime: '2026-12-07T10:00:00Z' })).toEqual(
      {},
    );
    expect(one({ sasUrl: sas({ se: '2026-12-07' }) }, { requestedSendTime: '2026-12-06T23:50:00Z' })).toEqual({
      [A]: ["Attachment 'a.pdf': sasUrl must be valid for at least 15 minutes after requestedSendTime."],
    });
    // this platform's own rule: only the configured storage hosts are fetched from
    expect(one({ sasUrl: sas({ host: 'evil.example.com' }) })).toEqual({
      [`${A}.SasUrl`]: ["Attachment 'a.pdf': sasUrl must point to an allowed storage host (*.blob.core.windows.net)."],
    });
    expect(one({ sasUrl: sas({ host: 'blob.core.windows.net.evil.example.com' }) })[`${A}.SasUrl`]).toHaveLength(1);
    expect(one({ mimeType: '' })).toEqual({ [`${A}.MimeType`]: ["Attachment 'a.pdf': mimeType must not be empty."] });
    expect(one({ mimeType: 'application/x-msdownload' })).toEqual({
      [`${A}.MimeType`]: [
        "Attachment 'a.pdf': mimeType is not supported. Refer to ACS documentation for the list of accepted MIME types.",
      ],
    });
  });

  it('keeps the v2 order rules: send time, condition endpoint, email settings', () => {
    const a = [{ filename: 'a.pdf', mimeType: 'application/pdf', sasUrl: sas() }];
    expect(errorsOf(body(a, { requestedSendTime: '2026-12-05T09:00:00Z' }))).toEqual({
      RequestedSendTime: ['RequestedSendTime must be greater than or equal to now.'],
    });
    expect(errorsOf(body(a, { conditionEndpoint: 'ftp://x.example.com' }))).toEqual({
      ConditionEndpoint: ['ConditionEndpoint must use http or https scheme.'],
    });
    const settings = errorsOf({
      idempotencyId: 'x',
      recipient: { emailAddress: 'someone@example.com', emailSettings: { attachments: a, contentType: 'Rtf' } },
    });
    expect(settings).toEqual({
      'Recipient.EmailSettings.Subject': ['The email subject must not be empty.'],
      'Recipient.EmailSettings.Body': ['The email body must not be empty.'],
      'Recipient.EmailSettings.ContentType': ['Email content type must be either Plain or HTML.'],
    });
  });
});

describe('a Composed order from a direct producer', () => {
  it('is one email by address with valid files; no other order carries files', () => {
    const files = [{ filename: 'a.pdf', mimeType: 'application/pdf', sasUrl: sas() }];
    const composed = sampleOrder(1, { type: 'Composed', attachments: files });
    expect(orderRecordProblems(composed)).toEqual([]);
    expect(orderRecordProblems({ ...composed, attachments: [] })).toEqual([
      'a Composed order must carry at least one attachment',
    ]);
    expect(
      orderRecordProblems({
        ...composed,
        notificationChannel: 'EmailAndSms',
        attachments: [{ filename: 'a', mimeType: 'text/x-shellscript', sasUrl: 'file:///etc/passwd' }],
      }),
    ).toEqual([
      'smsTemplate is required for EmailAndSms',
      'a Composed order must have notificationChannel Email',
      'attachments[0].filename is not a valid file name',
      'attachments[0].mimeType is not an allowed MIME type',
      'attachments[0].sasUrl is not an absolute HTTPS URL',
    ]);
    expect(orderRecordProblems(sampleOrder(2, { attachments: files }))).toEqual([
      'attachments are only for orders of type Composed, not Notification',
    ]);
  });
});
