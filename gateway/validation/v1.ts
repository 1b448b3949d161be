import {
  isValidEmail,
  isValidMobileNumber,
  isValidNationalIdentityNumber,
  isValidOrganizationNumber,
  isValidV1Url,
  parseDateTime,
} from '../../platform/validation/rules.ts';
import { CHANNELS, CONTENT_TYPES, type Channel, type Validated } from './order-chain.ts';
import { isObject, ObjectReader, ValidationErrors } from './reader.ts';

/** The v1 order requests (`POST /orders`, `/orders/email`, `/orders/sms`), reference §3.2 and §4. */
export interface V1Recipient {
  emailAddress: string | null;
  mobileNumber: string | null;
  organizationNumber: string | null;
  nationalIdentityNumber: string | null;
  isReserved: boolean | null;
}

export interface V1Order {
  sendersReference: string | null;
  requestedSendTime: number;
  conditionEndpoint: string | null;
  recipients: V1Recipient[];
  ignoreReservation: boolean;
  resourceId: string | null;
  resourceAction: string | null;
  notificationChannel: Channel;
  emailTemplate: { fromAddress: string | null; subject: string; body: string; contentType: 'Plain' | 'Html' } | null;
  smsTemplate: { senderNumber: string | null; body: string } | null;
}

const FIVE_MINUTES = 5 * 60 * 1000;

function readBase(r: ObjectReader, now: number, errs: ValidationErrors) {
  let requestedSendTime = now;
  const raw = r.raw('requestedSendTime');
  if (raw !== undefined && raw !== null) {
    const p = typeof raw === 'string' ? parseDateTime(raw) : null;
    if (!p) errs.add('RequestedSendTime', 'The JSON value could not be converted to System.DateTime.');
    else if (!p.zoned) errs.add('RequestedSendTime', 'The requested send time value must have specified a time zone.');
    else {
      // v1 tolerates five minutes of clock difference into the past
      if (p.ms < now - FIVE_MINUTES)
        errs.add('RequestedSendTime', 'Send time must be in the future. Leave blank to send immediately.');
      requestedSendTime = p.ms;
    }
  }
  const conditionEndpoint = r.string('conditionEndpoint') ?? null;
  if (conditionEndpoint !== null && !isValidV1Url(conditionEndpoint))
    errs.add('ConditionEndpoint', 'The condition endpoint must be a valid URL.');
  const resourceId = r.string('resourceId') ?? null;
  const resourceAction = r.string('resourceAction') ?? null;
  if (resourceAction !== null && resourceAction !== '') {
    if (!resourceId || resourceId.trim() === '')
      errs.add('ResourceAction', 'ResourceAction cannot be specified without a ResourceId.');
    else if (resourceAction.trim() === '') errs.add('ResourceAction', 'ResourceAction cannot be blank or whitespace.');
  }
  const recipients: V1Recipient[] = [];
  (r.array('recipients') ?? []).forEach((item, i) => {
    if (!isObject(item)) {
      errs.add(`Recipients[${i}]`, 'The JSON value could not be converted to RecipientExt.');
      return;
    }
    const rr = new ObjectReader(item, `Recipients[${i}]`, errs);
    recipients.push({
      emailAddress: rr.string('emailAddress') ?? null,
      mobileNumber: rr.string('mobileNumber') ?? null,
      organizationNumber: rr.string('organizationNumber') ?? null,
      nationalIdentityNumber: rr.string('nationalIdentityNumber') ?? null,
      isReserved: rr.boolean('isReserved') ?? null,
    });
  });
  return {
    sendersReference: r.string('sendersReference') ?? null,
    requestedSendTime,
    conditionEndpoint,
    recipients,
    ignoreReservation: r.boolean('ignoreReservation') ?? false,
    resourceId,
    resourceAction: resourceAction || null,
  };
}

const IDENTIFIER_MESSAGES: Record<'email' | 'sms' | 'preferred', string> = {
  email:
    'Either a valid email address, organization number, or national identity number must be provided for each recipient.',
  sms: 'Either a valid mobile number starting with country code, organization number, or national identity number must be provided for each recipient.',
  preferred:
    'Either a valid email address, mobile number starting with country code, organization number, or national identity number must be provided for each recipient.',
};

/** The recipient rules of one channel family (RecipientRules.Validate*Recipients). */
function checkRecipients(recipients: V1Recipient[], kind: 'email' | 'sms' | 'preferred', errs: ValidationErrors) {
  if (recipients.length === 0) {
    errs.add('Recipients', 'One or more recipient is required.');
    return;
  }
  recipients.forEach((r, i) => {
    const p = `Recipients[${i}]`;
    const hasEmail = !!r.emailAddress && kind !== 'sms';
    const hasMobile = !!r.mobileNumber && kind !== 'email';
    if (!hasEmail && !hasMobile && !r.organizationNumber && !r.nationalIdentityNumber)
      errs.add(p, IDENTIFIER_MESSAGES[kind]);
    if (kind !== 'sms' && r.emailAddress && !isValidEmail(r.emailAddress))
      errs.add(`${p}.EmailAddress`, 'Invalid email address format.');
    if (kind !== 'email' && r.mobileNumber && !isValidMobileNumber(r.mobileNumber))
      errs.add(
        `${p}.MobileNumber`,
        "Mobile number can contain only '+' and numeric characters, and it must adhere to the E.164 standard.",
      );
    if (r.nationalIdentityNumber && !isValidNationalIdentityNumber(r.nationalIdentityNumber))
      errs.add(`${p}.NationalIdentityNumber`, 'National identity number must be 11 digits long.');
    if (r.organizationNumber && !isValidOrganizationNumber(r.organizationNumber))
      errs.add(`${p}.OrganizationNumber`, 'Organization number must be 9 digits long.');
    if (r.nationalIdentityNumber && (r.emailAddress || r.mobileNumber || r.organizationNumber))
      errs.add(
        p,
        'National identity number cannot be combined with email address, mobile number, or organization number.',
      );
    if (r.organizationNumber && (r.emailAddress || r.mobileNumber || r.nationalIdentityNumber))
      errs.add(
        p,
        'Organization number cannot be combined with email address, mobile number, or national identity number.',
      );
  });
}

function readEmailTemplate(t: ObjectReader, errs: ValidationErrors, prefix: string) {
  const subject = t.string('subject');
  const body = t.string('body');
  if (!body) errs.add(`${prefix}Body`, 'The email template body must not be empty.');
  if (!subject) errs.add(`${prefix}Subject`, 'The email template subject must not be empty.');
  const contentType = t.enumOf('contentType', CONTENT_TYPES);
  if (contentType === null) errs.add(`${prefix}ContentType`, 'Email content type must be either Plain or HTML.');
  return {
    fromAddress: t.string('fromAddress')?.trim() || null,
    subject: subject ?? '',
    body: body ?? '',
    contentType: contentType ?? 'Plain',
  };
}

function bodyOf(body: unknown, errs: ValidationErrors, type: string): ObjectReader | null {
  if (!isObject(body)) {
    errs.add('$', `The JSON value could not be converted to ${type}.`);
    return null;
  }
  return new ObjectReader(body, '', errs);
}

/** `POST /orders`: the generic v1 order. */
export function validateV1Order(body: unknown, now: number): Validated<V1Order> {
  const errs = new ValidationErrors();
  const r = bodyOf(body, errs, 'NotificationOrderRequestExt');
  if (!r) return { ok: false, errors: errs.errors };
  const base = readBase(r, now, errs);
  const channel = r.enumOf('notificationChannel', CHANNELS);
  if (channel === undefined || channel === null)
    errs.add('NotificationChannel', 'A notification channel must be defined.');
  const et = r.object('emailTemplate');
  const st = r.object('smsTemplate');
  const emailTemplate = et ? readEmailTemplate(et, errs, 'EmailTemplate.') : null;
  let smsTemplate: V1Order['smsTemplate'] = null;
  if (st) {
    const smsBody = st.string('body');
    if (!smsBody) errs.add('SmsTemplate.Body', 'The SMS template body must not be empty.');
    smsTemplate = { senderNumber: st.string('senderNumber')?.trim() || null, body: smsBody ?? '' };
  }
  if (channel === 'Email' || channel === 'EmailPreferred' || channel === 'SmsPreferred') {
    if (!et) errs.add('EmailTemplate', 'An email template is required for the selected notification channel.');
  }
  if (channel === 'Sms' || channel === 'SmsPreferred' || channel === 'EmailPreferred') {
    if (!st) errs.add('SmsTemplate', 'An SMS template is required for the selected the notification channel.');
  }
  // As in the reference, EmailAndSms has no recipient rule of its own.
  if (channel === 'Email') checkRecipients(base.recipients, 'email', errs);
  else if (channel === 'Sms') checkRecipients(base.recipients, 'sms', errs);
  else if (channel === 'EmailPreferred' || channel === 'SmsPreferred')
    checkRecipients(base.recipients, 'preferred', errs);
  if (errs.count > 0 || !channel) return { ok: false, errors: errs.errors };
  return { ok: true, value: { ...base, notificationChannel: channel, emailTemplate, smsTemplate } };
}

/** `POST /orders/email`. */
export function validateV1EmailOrder(body: unknown, now: number): Validated<V1Order> {
  const errs = new ValidationErrors();
  const r = bodyOf(body, errs, 'EmailNotificationOrderRequestExt');
  if (!r) return { ok: false, errors: errs.errors };
  const base = readBase(r, now, errs);
  const emailTemplate = readEmailTemplate(r, errs, '');
  checkRecipients(base.recipients, 'email', errs);
  if (errs.count > 0) return { ok: false, errors: errs.errors };
  return { ok: true, value: { ...base, notificationChannel: 'Email', emailTemplate, smsTemplate: null } };
}

/** `POST /orders/sms`. */
export function validateV1SmsOrder(body: unknown, now: number): Validated<V1Order> {
  const errs = new ValidationErrors();
  const r = bodyOf(body, errs, 'SmsNotificationOrderRequestExt');
  if (!r) return { ok: false, errors: errs.errors };
  const base = readBase(r, now, errs);
  const smsBody = r.string('body');
  if (!smsBody) errs.add('Body', 'The SMS template body must not be empty.');
  checkRecipients(base.recipients, 'sms', errs);
  if (errs.count > 0) return { ok: false, errors: errs.errors };
  return {
    ok: true,
    value: {
      ...base,
      notificationChannel: 'Sms',
      emailTemplate: null,
      smsTemplate: { senderNumber: r.string('senderNumber')?.trim() || null, body: smsBody ?? '' },
    },
  };
}
