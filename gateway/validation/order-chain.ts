import {
  isAbsoluteUri,
  isHttpUri,
  isValidEmail,
  isValidExternalIdentity,
  isValidMobileNumber,
  isValidNationalIdentityNumber,
  isValidOrganizationNumber,
  isValidResourceId,
  parseDateTime,
} from '../../platform/validation/rules.ts';
import { isIP } from 'node:net';
import type { EgressGuard } from '../../platform/http/egress.ts';
import { isObject, join, ObjectReader, ValidationErrors, type Json } from './reader.ts';

/** The validated v2 order chain request (`POST /future/orders`), reference §3.3 and §4. */
export const CHANNELS = ['Email', 'Sms', 'EmailPreferred', 'SmsPreferred', 'EmailAndSms'] as const;
export type Channel = (typeof CHANNELS)[number];
export const CONTENT_TYPES = ['Plain', 'Html'] as const;
export const POLICIES = ['Anytime', 'Daytime'] as const;
export type Policy = (typeof POLICIES)[number];

export interface EmailSettings {
  senderEmailAddress: string | null;
  subject: string;
  body: string;
  contentType: (typeof CONTENT_TYPES)[number];
}

export interface SmsSettings {
  sender: string | null;
  body: string;
  sendingTimePolicy: Policy;
}

interface LookupRecipient {
  channelSchema: Channel;
  emailSettings: EmailSettings | null;
  smsSettings: SmsSettings | null;
  resourceId: string | null;
  resourceAction: string | null;
  /** an extension: fall back to the other channel when the preferred one finally fails; null: the creator's setting */
  fallbackOnDeliveryFailure: boolean | null;
}

export type RecipientSpec =
  | { kind: 'email'; emailAddress: string; emailSettings: EmailSettings }
  | { kind: 'sms'; phoneNumber: string; smsSettings: SmsSettings }
  | ({
      kind: 'person';
      nationalIdentityNumber: string;
      ignoreReservation: boolean;
      useStaleContactInformation: boolean;
    } & LookupRecipient)
  | ({ kind: 'organization'; orgNumber: string } & LookupRecipient)
  | ({ kind: 'externalIdentity'; externalIdentity: string } & LookupRecipient);

export interface ReminderSpec {
  sendersReference: string | null;
  conditionEndpoint: string | null;
  delayDays: number | null;
  requestedSendTime: number | null;
  recipient: RecipientSpec;
}

export interface OrderChainRequest {
  idempotencyId: string;
  sendersReference: string | null;
  requestedSendTime: number;
  conditionEndpoint: string | null;
  dialogportenAssociation: { dialogId: string | null; transmissionId: string | null } | null;
  recipient: RecipientSpec;
  reminders: ReminderSpec[];
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: Record<string, string[]> };

/** Rules shared by every place a condition endpoint is given in v2. */
export function checkConditionEndpoint(
  value: string,
  path: string,
  errs: ValidationErrors,
  egress?: Pick<EgressGuard, 'allows'>,
): void {
  if (!isAbsoluteUri(value)) {
    errs.add(path, 'ConditionEndpoint must be a valid absolute URI or null.');
    return;
  }
  if (!isHttpUri(value)) {
    errs.add(path, 'ConditionEndpoint must use http or https scheme.');
    return;
  }
  // The egress policy at order time, for what the URL itself names (an IP literal or
  // localhost); names that resolve inside are refused when the call is made (evaluate-condition).
  const host = new URL(value).hostname.replace(/^\[|\]$/g, '');
  const address = isIP(host) ? host : /^localhost\.?$|\.localhost\.?$/i.test(host) ? '127.0.0.1' : null;
  if (egress && address && !egress.allows(address))
    errs.add(path, 'ConditionEndpoint must not address loopback, link-local or private networks.');
}

export function readEmailSettings(
  r: ObjectReader | undefined,
  path: string,
  errs: ValidationErrors,
  emailOnly: boolean,
) {
  if (!r) {
    errs.add(path, 'Email sending options cannot be null.');
    return null;
  }
  const sender = r.string('senderEmailAddress');
  if (sender !== undefined && !isValidEmail(sender))
    errs.add(join(r.path, 'senderEmailAddress'), 'The sender email address is not valid.');
  const subject = r.string('subject');
  if (!subject) errs.add(join(r.path, 'subject'), 'The email subject must not be empty.');
  const body = r.string('body');
  if (!body) errs.add(join(r.path, 'body'), 'The email body must not be empty.');
  const contentType = r.enumOf('contentType', CONTENT_TYPES);
  if (contentType === null) errs.add(join(r.path, 'contentType'), 'Email content type must be either Plain or HTML.');
  if (emailOnly) {
    const policy = r.enumOf('sendingTimePolicy', POLICIES, 1);
    if (policy === null || policy === 'Daytime')
      errs.add(join(r.path, 'sendingTimePolicy'), 'Email only supports send time anytime');
  }
  return {
    senderEmailAddress: sender?.trim() || null,
    subject: subject ?? '',
    body: body ?? '',
    contentType: contentType ?? 'Plain',
  };
}

export function readSmsSettings(r: ObjectReader | undefined, path: string, errs: ValidationErrors) {
  if (!r) {
    errs.add(path, 'SMS sending options cannot be null.');
    return null;
  }
  const body = r.string('body');
  if (!body) errs.add(join(r.path, 'body'), 'SMS body cannot be null or empty.');
  const policy = r.enumOf('sendingTimePolicy', POLICIES, 1);
  if (policy === null) errs.add(join(r.path, 'sendingTimePolicy'), 'SMS only supports send time daytime and anytime');
  return { sender: r.string('sender')?.trim() || null, body: body ?? '', sendingTimePolicy: policy ?? 'Daytime' };
}

function readLookupRecipient(r: ObjectReader, defaultChannel: Channel | null, errs: ValidationErrors) {
  const channel = r.enumOf('channelSchema', CHANNELS);
  const channelPath = join(r.path, 'channelSchema');
  if (channel === null) errs.add(channelPath, 'Invalid channel scheme value.');
  if (channel === undefined && defaultChannel === null) errs.add(channelPath, 'The ChannelSchema field is required.');
  const channelSchema = channel ?? defaultChannel ?? 'Email';
  const emailR = r.object('emailSettings');
  const smsR = r.object('smsSettings');
  const emailPath = join(r.path, 'emailSettings');
  const smsPath = join(r.path, 'smsSettings');
  if (channel !== null) {
    if (channelSchema === 'EmailAndSms') {
      if (!emailR) errs.add(emailPath, 'EmailSettings must be set when ChannelSchema is EmailAndSms');
      if (!smsR) errs.add(smsPath, 'SmsSettings must be set when ChannelSchema is EmailAndSms');
    } else if (channelSchema === 'EmailPreferred' || channelSchema === 'SmsPreferred') {
      if (!emailR)
        errs.add(emailPath, 'EmailSettings must be set when ChannelSchema is SmsPreferred or EmailPreferred');
      if (!smsR) errs.add(smsPath, 'SmsSettings must be set when ChannelSchema is SmsPreferred or EmailPreferred');
    } else if (channelSchema === 'Sms' && !smsR) {
      errs.add(smsPath, 'SmsSettings must be set when ChannelSchema is Sms');
    } else if (channelSchema === 'Email' && !emailR) {
      errs.add(emailPath, 'EmailSettings must be set when ChannelSchema is Email');
    }
  }
  const emailSettings = emailR ? readEmailSettings(emailR, emailPath, errs, true) : null;
  const smsSettings = smsR ? readSmsSettings(smsR, smsPath, errs) : null;
  const resourceId = r.string('resourceId') ?? null;
  if (resourceId !== null && !isValidResourceId(resourceId))
    errs.add(join(r.path, 'resourceId'), 'ResourceId must have a valid syntax.');
  const resourceAction = r.string('resourceAction') ?? null;
  if (resourceAction !== null && resourceAction !== '') {
    if (!resourceId || resourceId.trim() === '')
      errs.add(join(r.path, 'resourceAction'), 'ResourceAction cannot be specified without a ResourceId.');
    else if (resourceAction.trim() === '')
      errs.add(join(r.path, 'resourceAction'), 'ResourceAction cannot be blank or whitespace.');
  }
  const fallback = r.boolean('fallbackOnDeliveryFailure');
  if (fallback === true && channel !== null && channelSchema !== 'EmailPreferred' && channelSchema !== 'SmsPreferred')
    errs.add(
      join(r.path, 'fallbackOnDeliveryFailure'),
      'FallbackOnDeliveryFailure can only be set when ChannelSchema is EmailPreferred or SmsPreferred.',
    );
  return {
    channelSchema,
    emailSettings,
    smsSettings,
    resourceId,
    resourceAction: resourceAction || null,
    fallbackOnDeliveryFailure: fallback ?? null,
  };
}

/** The recipient union: exactly one of five kinds. */
export function readRecipient(value: Json | undefined, path: string, errs: ValidationErrors): RecipientSpec | null {
  if (value === undefined || value === null) {
    errs.add(path, `'${path.split('.').pop()}' must not be empty.`);
    return null;
  }
  if (!isObject(value)) {
    errs.add(path, 'The JSON value could not be converted to Object.');
    return null;
  }
  const r = new ObjectReader(value, path, errs);
  const kinds = [
    'recipientEmail',
    'recipientSms',
    'recipientPerson',
    'recipientOrganization',
    'recipientExternalIdentity',
  ];
  const present = kinds.filter((k) => r.raw(k) !== undefined && r.raw(k) !== null);
  if (present.length !== 1) {
    errs.add(path, 'Must have exactly one recipient.');
    return null;
  }
  const kind = present[0]!;
  const sub = r.object(kind);
  if (!sub) return null;
  switch (kind) {
    case 'recipientEmail': {
      const emailAddress = sub.string('emailAddress');
      if (!isValidEmail(emailAddress)) errs.add(join(sub.path, 'emailAddress'), 'Invalid email address format.');
      const settingsPath = join(sub.path, 'emailSettings');
      const settingsR = sub.object('emailSettings');
      if (!settingsR) errs.add(settingsPath, 'Recipient email settings cannot be null.');
      const emailSettings = settingsR ? readEmailSettings(settingsR, settingsPath, errs, true) : null;
      return emailSettings ? { kind: 'email', emailAddress: (emailAddress ?? '').trim(), emailSettings } : null;
    }
    case 'recipientSms': {
      const phoneNumber = sub.string('phoneNumber');
      const phonePath = join(sub.path, 'phoneNumber');
      if (!phoneNumber) errs.add(phonePath, 'Recipient phone number cannot be null, empty, or invalid.');
      if (!isValidMobileNumber(phoneNumber))
        errs.add(phonePath, 'Recipient phone number is not a valid mobile number.');
      const settingsPath = join(sub.path, 'smsSettings');
      const smsSettings = readSmsSettings(sub.object('smsSettings'), settingsPath, errs);
      return smsSettings ? { kind: 'sms', phoneNumber: phoneNumber ?? '', smsSettings } : null;
    }
    case 'recipientPerson': {
      const nin = sub.string('nationalIdentityNumber');
      const ninPath = join(sub.path, 'nationalIdentityNumber');
      if (!nin) errs.add(ninPath, "'National Identity Number' must not be empty.");
      else if (!isValidNationalIdentityNumber(nin))
        errs.add(ninPath, 'National identity number must be 11 digits long.');
      const base = readLookupRecipient(sub, 'EmailPreferred', errs);
      return {
        kind: 'person',
        nationalIdentityNumber: nin ?? '',
        ignoreReservation: sub.boolean('ignoreReservation') ?? false,
        useStaleContactInformation: sub.boolean('useStaleContactInformation') ?? false,
        ...base,
      };
    }
    case 'recipientOrganization': {
      const org = sub.string('orgNumber');
      const orgPath = join(sub.path, 'orgNumber');
      if (!org) errs.add(orgPath, "'Org Number' must not be empty.");
      else if (!isValidOrganizationNumber(org)) errs.add(orgPath, 'Organization number must be 9 digits long.');
      return { kind: 'organization', orgNumber: org ?? '', ...readLookupRecipient(sub, null, errs) };
    }
    default: {
      const id = sub.string('externalIdentity');
      const idPath = join(sub.path, 'externalIdentity');
      if (!id) errs.add(idPath, 'ExternalIdentity cannot be null or empty.');
      else if (!isValidExternalIdentity(id)) errs.add(idPath, 'Invalid external identity URN format.');
      return { kind: 'externalIdentity', externalIdentity: id ?? '', ...readLookupRecipient(sub, 'Email', errs) };
    }
  }
}

function readSendTime(
  r: ObjectReader,
  path: string,
  now: number,
  errs: ValidationErrors,
  messages: { zone: string; past: string },
): number | null | undefined {
  const raw = r.raw('requestedSendTime');
  if (raw === undefined || raw === null) return undefined;
  const p = typeof raw === 'string' ? parseDateTime(raw) : null;
  if (!p) {
    errs.add(path, 'The JSON value could not be converted to System.DateTime.');
    return null;
  }
  if (!p.zoned) {
    errs.add(path, messages.zone);
    return null;
  }
  if (p.ms < now) errs.add(path, messages.past);
  return p.ms;
}

/**
 * Dialogporten ids are plain strings in the reference (`DialogportenIdentifiersExt`, no
 * validator): any string is taken as it is; only the JSON type is checked.
 */
function readDialogporten(r: ObjectReader | undefined) {
  if (!r) return null;
  return { dialogId: r.string('dialogId') ?? null, transmissionId: r.string('transmissionId') ?? null };
}

/** A reader of the request's body, or null (the error added) when it is not a JSON object of `model`. */
export function bodyReader(body: unknown, model: string, errs: ValidationErrors): ObjectReader | null {
  if (isObject(body)) return new ObjectReader(body, '', errs);
  errs.add('$', `The JSON value could not be converted to ${model}.`);
  return null;
}

/**
 * The fields every v2 order request has (the reference's `NotificationOrderBaseExt` and its
 * validator, and the idempotencyId): read from `r`, their problems added to `errs`. `sendTime`
 * is undefined when absent, null when not a zoned time, else the time (also when in the past).
 */
export function readOrderBase(
  r: ObjectReader,
  now: number,
  errs: ValidationErrors,
  egress?: Pick<EgressGuard, 'allows'>,
) {
  const idempotencyId = r.string('idempotencyId');
  if (!idempotencyId || idempotencyId.trim() === '')
    errs.add('IdempotencyId', 'IdempotencyId cannot be null or empty.');
  const sendTime = readSendTime(r, 'RequestedSendTime', now, errs, {
    zone: 'The requested send time value must have specified a time zone.',
    past: 'RequestedSendTime must be greater than or equal to now.',
  });
  const conditionEndpoint = r.string('conditionEndpoint') ?? null;
  if (conditionEndpoint !== null) checkConditionEndpoint(conditionEndpoint, 'ConditionEndpoint', errs, egress);
  const dialogportenAssociation = readDialogporten(r.object('dialogportenAssociation'));
  return { idempotencyId, sendTime, conditionEndpoint, dialogportenAssociation };
}

/** Validates a `POST /future/orders` body against every rule of the reference, at `now`. */
export function validateOrderChain(
  body: unknown,
  now: number,
  egress?: Pick<EgressGuard, 'allows'>,
): Validated<OrderChainRequest> {
  const errs = new ValidationErrors();
  const r = bodyReader(body, 'NotificationOrderChainRequestExt', errs);
  if (!r) return { ok: false, errors: errs.errors };
  const { idempotencyId, sendTime, conditionEndpoint, dialogportenAssociation } = readOrderBase(r, now, errs, egress);
  const recipient = readRecipient(r.raw('recipient'), 'Recipient', errs);
  const reminders: ReminderSpec[] = [];
  (r.array('reminders') ?? []).forEach((item, i) => {
    const path = `Reminders[${i}]`;
    if (!isObject(item)) {
      errs.add(path, 'The JSON value could not be converted to NotificationReminderExt.');
      return;
    }
    const rr = new ObjectReader(item, path, errs);
    const delayDays = rr.number('delayDays');
    const hasTime = rr.raw('requestedSendTime') !== undefined && rr.raw('requestedSendTime') !== null;
    if ((delayDays !== undefined) === hasTime)
      errs.add(path, 'Either DelayDays or RequestedSendTime must be defined, but not both.');
    if (delayDays !== undefined && (!Number.isInteger(delayDays) || delayDays < 1))
      errs.add(`${path}.DelayDays`, 'DelayDays must be greater than or equal to 1 day.');
    const time = readSendTime(rr, `${path}.RequestedSendTime`, now, errs, {
      zone: 'The RequestedSendTime must have specified a time zone.',
      past: 'RequestedSendTime must be greater than or equal to the current UTC time.',
    });
    const cond = rr.string('conditionEndpoint') ?? null;
    if (cond !== null) checkConditionEndpoint(cond, `${path}.ConditionEndpoint`, errs, egress);
    const rec = readRecipient(rr.raw('recipient'), `${path}.Recipient`, errs);
    if (rec)
      reminders.push({
        sendersReference: rr.string('sendersReference') ?? null,
        conditionEndpoint: cond,
        delayDays: delayDays ?? null,
        requestedSendTime: time ?? null,
        recipient: rec,
      });
  });
  if (errs.count > 0 || !recipient || !idempotencyId) return { ok: false, errors: errs.errors };
  return {
    ok: true,
    value: {
      idempotencyId,
      sendersReference: r.string('sendersReference') ?? null,
      requestedSendTime: sendTime ?? now,
      conditionEndpoint,
      dialogportenAssociation,
      recipient,
      reminders,
    },
  };
}
