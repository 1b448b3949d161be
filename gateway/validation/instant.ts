import { isValidEmail, isValidMobileNumber } from '../../platform/validation/rules.ts';
import {
  readEmailSettings,
  readSmsSettings,
  type EmailSettings,
  type SmsSettings,
  type Validated,
} from './order-chain.ts';
import { isObject, join, ObjectReader, ValidationErrors } from './reader.ts';

/** Instant orders (`POST /future/orders/instant/sms|email`, reference §3.4). */
export type InstantRequest =
  | {
      kind: 'sms';
      idempotencyId: string;
      sendersReference: string | null;
      phoneNumber: string;
      timeToLiveInSeconds: number;
      smsSettings: SmsSettings;
    }
  | {
      kind: 'email';
      idempotencyId: string;
      sendersReference: string | null;
      emailAddress: string;
      emailSettings: EmailSettings;
    };

function start(body: unknown, errs: ValidationErrors, type: string) {
  if (!isObject(body)) {
    errs.add('$', `The JSON value could not be converted to ${type}.`);
    return null;
  }
  const r = new ObjectReader(body, '', errs);
  const idempotencyId = r.string('idempotencyId');
  if (!idempotencyId || idempotencyId.trim() === '')
    errs.add('IdempotencyId', 'IdempotencyId cannot be null or empty.');
  return { r, idempotencyId: idempotencyId ?? '', sendersReference: r.string('sendersReference') ?? null };
}

/**
 * The instant SMS body; `legacy` reads the deprecated `POST /future/orders/instant`, whose
 * recipient sits under `recipient.recipientSms`.
 */
export function validateInstantSms(body: unknown, legacy = false): Validated<InstantRequest> {
  const errs = new ValidationErrors();
  const s = start(body, errs, 'InstantSmsNotificationOrderRequestExt');
  if (!s) return { ok: false, errors: errs.errors };
  const holder = legacy ? s.r.object('recipient') : s.r;
  const sms = holder?.object('recipientSms');
  const smsPath = legacy ? 'Recipient.RecipientSms' : 'RecipientSms';
  if (!sms) {
    errs.add(smsPath, 'Recipient SMS details cannot be null.');
    return { ok: false, errors: errs.errors };
  }
  const phone = sms.string('phoneNumber');
  if (!isValidMobileNumber(phone))
    errs.add(join(sms.path, 'phoneNumber'), 'Recipient phone number is not a valid mobile number.');
  const ttl = sms.number('timeToLiveInSeconds');
  if (ttl === undefined || !Number.isInteger(ttl) || ttl < 60 || ttl > 172_800)
    errs.add(join(sms.path, 'timeToLiveInSeconds'), 'Time-to-live must be between 60 and 172800 seconds (48 hours).');
  const settings = readSmsSettings(sms.object('smsSettings'), join(sms.path, 'smsSettings'), errs);
  if (errs.count > 0 || !settings || !phone || ttl === undefined) return { ok: false, errors: errs.errors };
  return {
    ok: true,
    value: {
      kind: 'sms',
      idempotencyId: s.idempotencyId,
      sendersReference: s.sendersReference,
      phoneNumber: phone,
      timeToLiveInSeconds: ttl,
      // instant SMS go at once, whatever the hour
      smsSettings: { ...settings, sendingTimePolicy: 'Anytime' },
    },
  };
}

export function validateInstantEmail(body: unknown): Validated<InstantRequest> {
  const errs = new ValidationErrors();
  const s = start(body, errs, 'InstantEmailNotificationOrderRequestExt');
  if (!s) return { ok: false, errors: errs.errors };
  const email = s.r.object('recipientEmail');
  if (!email) {
    errs.add('RecipientEmail', 'Recipient email object cannot be null.');
    return { ok: false, errors: errs.errors };
  }
  const address = email.string('emailAddress');
  if (!isValidEmail(address)) errs.add(join(email.path, 'emailAddress'), 'Invalid email address format.');
  const settingsPath = join(email.path, 'emailSettings');
  const settingsR = email.object('emailSettings');
  if (!settingsR) errs.add(settingsPath, 'Email sending options cannot be null.');
  const settings = settingsR ? readEmailSettings(settingsR, settingsPath, errs, false) : null;
  if (errs.count > 0 || !settings || !address) return { ok: false, errors: errs.errors };
  return {
    ok: true,
    value: {
      kind: 'email',
      idempotencyId: s.idempotencyId,
      sendersReference: s.sendersReference,
      emailAddress: address.trim(),
      emailSettings: settings,
    },
  };
}
