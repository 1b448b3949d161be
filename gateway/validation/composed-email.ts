import type { EgressGuard } from '../../platform/http/egress.ts';
import { allowedMimeType, attachmentProblems, type AttachmentRef } from '../../platform/validation/attachments.ts';
import { isValidEmail } from '../../platform/validation/rules.ts';
import {
  bodyReader,
  readEmailSettings,
  readOrderBase,
  type EmailSettings,
  type OrderChainRequest,
  type Validated,
} from './order-chain.ts';
import { isObject, join, ObjectReader, ValidationErrors } from './reader.ts';

/** The validated `POST /future/orders/composed-email` body: one email, with files. */
export interface ComposedEmailRequest extends Omit<OrderChainRequest, 'recipient' | 'reminders'> {
  recipient: { kind: 'email'; emailAddress: string; emailSettings: EmailSettings };
  /** each with the allow-list's own spelling of its MIME type */
  attachments: AttachmentRef[];
}

/**
 * Validates a composed email order (reference §3.5 and §4: `ComposedEmailRequestValidator`,
 * `RecipientComposedEmailValidator`, `SasFileReferenceRules`) at `now`. `attachmentHosts`: the
 * storage hosts a SAS URL may name (ATTACHMENT_HOSTS).
 */
export function validateComposedEmail(
  body: unknown,
  now: number,
  attachmentHosts: readonly string[],
  egress?: Pick<EgressGuard, 'allows'>,
): Validated<ComposedEmailRequest> {
  const errs = new ValidationErrors();
  const r = bodyReader(body, 'ComposedEmailRequestExt', errs);
  if (!r) return { ok: false, errors: errs.errors };
  const base = readOrderBase(r, now, errs, egress);
  const { idempotencyId, conditionEndpoint, dialogportenAssociation } = base;
  // the files' expiry is checked against the requested send time, also when that is in the past
  const sendTime = base.sendTime ?? now;

  let recipient: ComposedEmailRequest['recipient'] | null = null;
  const attachments: AttachmentRef[] = [];
  const rec = r.raw('recipient');
  if (rec === undefined || rec === null) errs.add('Recipient', "'Recipient' must not be empty.");
  else if (!isObject(rec)) errs.add('Recipient', 'The JSON value could not be converted to RecipientComposedEmailExt.');
  else {
    const rr = new ObjectReader(rec, 'Recipient', errs);
    const emailAddress = rr.string('emailAddress');
    if (!isValidEmail(emailAddress)) errs.add(join(rr.path, 'emailAddress'), 'Invalid email address format.');
    const settingsPath = join(rr.path, 'emailSettings');
    const sr = rr.object('emailSettings');
    if (!sr) errs.add(settingsPath, 'Recipient email settings cannot be null.');
    else {
      const emailSettings = readEmailSettings(sr, settingsPath, errs, true);
      const listPath = join(sr.path, 'attachments');
      const list = sr.array('attachments') ?? [];
      if (list.length === 0) errs.add(listPath, 'At least one attachment is required.');
      const itemRules: [string, string][] = [];
      list.forEach((item, i) => {
        const itemPath = `${listPath}[${i}]`;
        if (item === null) return errs.add(itemPath, 'Attachment item must not be null.');
        if (!isObject(item)) return errs.add(itemPath, 'The JSON value could not be converted to SasFileReferenceExt.');
        const ar = new ObjectReader(item, itemPath, errs);
        const a = { filename: ar.string('filename'), mimeType: ar.string('mimeType'), sasUrl: ar.string('sasUrl') };
        for (const p of attachmentProblems(a, sendTime, attachmentHosts)) {
          if (p.field) errs.add(`${itemPath}.${p.field}`, p.message);
          // the request's own rules come after the recipient's, as the reference reports them
          else itemRules.push([itemPath, p.message]);
        }
        attachments.push({
          filename: a.filename ?? '',
          mimeType: allowedMimeType(a.mimeType ?? '') ?? '',
          sasUrl: a.sasUrl ?? '',
        });
      });
      for (const [path, message] of itemRules) errs.add(path, message);
      if (emailSettings) recipient = { kind: 'email', emailAddress: (emailAddress ?? '').trim(), emailSettings };
    }
  }
  if (errs.count > 0 || !recipient || !idempotencyId) return { ok: false, errors: errs.errors };
  return {
    ok: true,
    value: {
      idempotencyId,
      sendersReference: r.string('sendersReference') ?? null,
      requestedSendTime: sendTime,
      conditionEndpoint,
      dialogportenAssociation,
      recipient,
      attachments,
    },
  };
}
