import { describe, expect, it } from 'vitest';
import { validateOrderChain } from '../../gateway/validation/order-chain.ts';
import { validateV1Order } from '../../gateway/validation/v1.ts';
import { isValidEmail, isValidMobileNumber } from '../../platform/validation/rules.ts';

const NOW = Date.parse('2026-11-27T10:00:00Z');
const email = { subject: 'S', body: 'B' };
const sms = { body: 'B' };
const errorsOf = (body: unknown) => {
  const r = validateOrderChain(body, NOW);
  return r.ok ? {} : r.errors;
};
const chain = (recipient: unknown, extra: Record<string, unknown> = {}) => ({
  idempotencyId: 'i',
  recipient,
  ...extra,
});

describe('validation rules (reference §4 vectors)', () => {
  it.each([
    'æge_sjøåsen@domain.com',
    'stephanie@kul.no',
    'bakken_kundeservice@sykkelverksted.com',
    'john.doe@sub.domain.example',
    'gratis-netflix+1@gmail.com',
  ])('accepts the email address %s', (a) => expect(isValidEmail(a)).toBe(true));
  it.each([
    '.user@example.com',
    '""',
    'userexample.com',
    'user@',
    '@example.com',
    'user@example..com',
    'user@exa!mple.com',
    'user.@example.com',
    'one@example.com;two@example.com',
  ])('refuses the email address %s', (a) => expect(isValidEmail(a)).toBe(false));
  it.each([
    '+4740000001',
    '004740000000',
    '+4790000000',
    '004790000002',
    '+233242426224',
    '+47 99999999',
    '+47 99999999 ',
    '+47 9999 9999',
    '+47 99 99 99 99 ',
  ])('accepts the mobile number "%s"', (n) => expect(isValidMobileNumber(n)).toBe(true));
  it.each([
    '40000001',
    '90000000',
    '+4750000004',
    '+47900000001',
    '+14790000000',
    '',
    '111100000',
    'dasdsadSASA',
    '12345678',
    '   ',
    '++4740000000',
    ' +4799999999',
    ' +47 99 99 99 99',
    '+47',
    '12345',
    'abcdefg',
    '+479999999',
    '+479999999999',
    '+4760000000',
  ])('refuses the mobile number "%s"', (n) => expect(isValidMobileNumber(n)).toBe(false));
});

describe('POST /future/orders validation', () => {
  it('accepts a complete chain and defaults the send time to now', () => {
    const r = validateOrderChain(chain({ recipientEmail: { emailAddress: 'a@b.no', emailSettings: email } }), NOW);
    expect(r.ok && r.value.requestedSendTime).toBe(NOW);
  });

  it.each([
    [
      { recipient: { recipientEmail: { emailAddress: 'a@b.no', emailSettings: email } } },
      { IdempotencyId: ['IdempotencyId cannot be null or empty.'] },
    ],
    [chain({}), { Recipient: ['Must have exactly one recipient.'] }],
    [
      chain({
        recipientEmail: { emailAddress: 'a@b.no', emailSettings: email },
        recipientSms: { phoneNumber: '+4799999999', smsSettings: sms },
      }),
      { Recipient: ['Must have exactly one recipient.'] },
    ],
    [
      chain({ recipientEmail: { emailAddress: 'a@b', emailSettings: email } }),
      { 'Recipient.RecipientEmail.EmailAddress': ['Invalid email address format.'] },
    ],
    [
      chain({ recipientEmail: { emailAddress: 'a@b.no', emailSettings: { subject: '', body: '' } } }),
      {
        'Recipient.RecipientEmail.EmailSettings.Subject': ['The email subject must not be empty.'],
        'Recipient.RecipientEmail.EmailSettings.Body': ['The email body must not be empty.'],
      },
    ],
    [
      chain({
        recipientEmail: {
          emailAddress: 'a@b.no',
          emailSettings: { ...email, sendingTimePolicy: 'Daytime', contentType: 'Rtf' },
        },
      }),
      {
        'Recipient.RecipientEmail.EmailSettings.SendingTimePolicy': ['Email only supports send time anytime'],
        'Recipient.RecipientEmail.EmailSettings.ContentType': ['Email content type must be either Plain or HTML.'],
      },
    ],
    [
      chain({ recipientEmail: { emailAddress: 'a@b.no', emailSettings: { ...email, senderEmailAddress: 'nope' } } }),
      { 'Recipient.RecipientEmail.EmailSettings.SenderEmailAddress': ['The sender email address is not valid.'] },
    ],
    [
      chain({ recipientSms: { phoneNumber: '+4750000004', smsSettings: sms } }),
      { 'Recipient.RecipientSms.PhoneNumber': ['Recipient phone number is not a valid mobile number.'] },
    ],
    [
      chain({ recipientSms: { phoneNumber: '+4799999999', smsSettings: { body: '' } } }),
      { 'Recipient.RecipientSms.SmsSettings.Body': ['SMS body cannot be null or empty.'] },
    ],
    [
      chain({
        recipientSms: { phoneNumber: '+4799999999', smsSettings: { body: 'x', sendingTimePolicy: 'Nighttime' } },
      }),
      { 'Recipient.RecipientSms.SmsSettings.SendingTimePolicy': ['SMS only supports send time daytime and anytime'] },
    ],
    [
      chain({
        recipientPerson: { nationalIdentityNumber: '1234567890', channelSchema: 'Email', emailSettings: email },
      }),
      { 'Recipient.RecipientPerson.NationalIdentityNumber': ['National identity number must be 11 digits long.'] },
    ],
    [
      chain({ recipientPerson: { nationalIdentityNumber: '12345678901', channelSchema: 'SmsPreferred' } }),
      {
        'Recipient.RecipientPerson.EmailSettings': [
          'EmailSettings must be set when ChannelSchema is SmsPreferred or EmailPreferred',
        ],
        'Recipient.RecipientPerson.SmsSettings': [
          'SmsSettings must be set when ChannelSchema is SmsPreferred or EmailPreferred',
        ],
      },
    ],
    [
      chain({
        recipientPerson: { nationalIdentityNumber: '12345678901', channelSchema: 'EmailAndSms', emailSettings: email },
      }),
      { 'Recipient.RecipientPerson.SmsSettings': ['SmsSettings must be set when ChannelSchema is EmailAndSms'] },
    ],
    [
      chain({ recipientOrganization: { orgNumber: '12345678', channelSchema: 'Sms' } }),
      {
        'Recipient.RecipientOrganization.OrgNumber': ['Organization number must be 9 digits long.'],
        'Recipient.RecipientOrganization.SmsSettings': ['SmsSettings must be set when ChannelSchema is Sms'],
      },
    ],
    [
      chain({ recipientOrganization: { orgNumber: '123456789', channelSchema: 'Post', emailSettings: email } }),
      { 'Recipient.RecipientOrganization.ChannelSchema': ['Invalid channel scheme value.'] },
    ],
    [
      chain({
        recipientOrganization: {
          orgNumber: '123456789',
          channelSchema: 'Email',
          emailSettings: email,
          resourceId: 'app_x',
        },
      }),
      { 'Recipient.RecipientOrganization.ResourceId': ['ResourceId must have a valid syntax.'] },
    ],
    [
      chain({
        recipientOrganization: {
          orgNumber: '123456789',
          channelSchema: 'Email',
          emailSettings: email,
          resourceAction: 'read',
        },
      }),
      {
        'Recipient.RecipientOrganization.ResourceAction': ['ResourceAction cannot be specified without a ResourceId.'],
      },
    ],
    [
      chain({
        recipientOrganization: {
          orgNumber: '123456789',
          channelSchema: 'Email',
          emailSettings: email,
          resourceId: 'urn:altinn:resource:x',
          resourceAction: '  ',
        },
      }),
      { 'Recipient.RecipientOrganization.ResourceAction': ['ResourceAction cannot be blank or whitespace.'] },
    ],
    [
      chain({
        recipientExternalIdentity: {
          externalIdentity: 'urn:altinn:person:idporten-email:user@example',
          emailSettings: email,
        },
      }),
      { 'Recipient.RecipientExternalIdentity.ExternalIdentity': ['Invalid external identity URN format.'] },
    ],
    [
      chain(
        { recipientEmail: { emailAddress: 'a@b.no', emailSettings: email } },
        { requestedSendTime: '2026-11-27T09:59:59Z' },
      ),
      { RequestedSendTime: ['RequestedSendTime must be greater than or equal to now.'] },
    ],
    [
      chain(
        { recipientEmail: { emailAddress: 'a@b.no', emailSettings: email } },
        { requestedSendTime: '2026-11-27T12:00:00' },
      ),
      { RequestedSendTime: ['The requested send time value must have specified a time zone.'] },
    ],
    [
      chain({ recipientEmail: { emailAddress: 'a@b.no', emailSettings: email } }, { conditionEndpoint: '/relative' }),
      { ConditionEndpoint: ['ConditionEndpoint must be a valid absolute URI or null.'] },
    ],
    [
      chain(
        { recipientEmail: { emailAddress: 'a@b.no', emailSettings: email } },
        { conditionEndpoint: 'ftp://example.com/x' },
      ),
      { ConditionEndpoint: ['ConditionEndpoint must use http or https scheme.'] },
    ],
  ])('refuses %j with the reference messages', (body, expected) => {
    expect(errorsOf(body)).toEqual(expected);
  });

  it('takes the fallbackOnDeliveryFailure extension on a preferred channel only, and leaves it to the creator when absent', () => {
    const person = (extra: Record<string, unknown>) =>
      chain({
        recipientPerson: {
          nationalIdentityNumber: '01017012345',
          channelSchema: 'SmsPreferred',
          emailSettings: email,
          smsSettings: sms,
          ...extra,
        },
      });
    const fallbackOf = (body: unknown) => {
      const r = validateOrderChain(body, NOW);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return (r.value.recipient as { fallbackOnDeliveryFailure: boolean | null }).fallbackOnDeliveryFailure;
    };
    expect(fallbackOf(person({ fallbackOnDeliveryFailure: true }))).toBe(true);
    expect(fallbackOf(person({ fallbackOnDeliveryFailure: false }))).toBe(false);
    expect(fallbackOf(person({}))).toBeNull();
    expect(errorsOf(person({ channelSchema: 'EmailAndSms', fallbackOnDeliveryFailure: true }))).toEqual({
      'Recipient.RecipientPerson.FallbackOnDeliveryFailure': [
        'FallbackOnDeliveryFailure can only be set when ChannelSchema is EmailPreferred or SmsPreferred.',
      ],
    });
    expect(Object.keys(errorsOf(person({ fallbackOnDeliveryFailure: 'yes' })))).toEqual([
      'Recipient.RecipientPerson.FallbackOnDeliveryFailure',
    ]);
  });

  it('validates reminders: delayDays xor requestedSendTime, their own time rules and recipient', () => {
    const ok = { recipientEmail: { emailAddress: 'a@b.no', emailSettings: email } };
    expect(errorsOf(chain(ok, { reminders: [{ recipient: ok }] }))).toEqual({
      'Reminders[0]': ['Either DelayDays or RequestedSendTime must be defined, but not both.'],
    });
    expect(
      errorsOf(chain(ok, { reminders: [{ delayDays: 1, requestedSendTime: '2026-11-28T10:00:00Z', recipient: ok }] })),
    ).toEqual({
      'Reminders[0]': ['Either DelayDays or RequestedSendTime must be defined, but not both.'],
    });
    expect(errorsOf(chain(ok, { reminders: [{ delayDays: 0, recipient: ok }] }))).toEqual({
      'Reminders[0].DelayDays': ['DelayDays must be greater than or equal to 1 day.'],
    });
    expect(errorsOf(chain(ok, { reminders: [{ requestedSendTime: '2026-11-27T09:00:00Z', recipient: ok }] }))).toEqual({
      'Reminders[0].RequestedSendTime': ['RequestedSendTime must be greater than or equal to the current UTC time.'],
    });
    expect(errorsOf(chain(ok, { reminders: [{ requestedSendTime: '2026-11-28T09:00:00', recipient: ok }] }))).toEqual({
      'Reminders[0].RequestedSendTime': ['The RequestedSendTime must have specified a time zone.'],
    });
    expect(
      errorsOf(
        chain(ok, {
          reminders: [{ delayDays: 3, recipient: { recipientSms: { phoneNumber: '12345', smsSettings: sms } } }],
        }),
      ),
    ).toEqual({
      'Reminders[0].Recipient.RecipientSms.PhoneNumber': ['Recipient phone number is not a valid mobile number.'],
    });
  });
});

describe('POST /orders (v1) validation', () => {
  const v1 = (body: Record<string, unknown>) => {
    const r = validateV1Order(body, NOW);
    return r.ok ? {} : r.errors;
  };

  it('needs a channel, the channel’s templates and recipients', () => {
    expect(v1({ recipients: [{ emailAddress: 'a@b.no' }] })).toEqual({
      NotificationChannel: ['A notification channel must be defined.'],
    });
    expect(v1({ notificationChannel: 'EmailPreferred', recipients: [] })).toEqual({
      EmailTemplate: ['An email template is required for the selected notification channel.'],
      SmsTemplate: ['An SMS template is required for the selected the notification channel.'],
      Recipients: ['One or more recipient is required.'],
    });
    expect(v1({ notificationChannel: 'Email', emailTemplate: { subject: '', body: '' }, recipients: [{}] })).toEqual({
      'EmailTemplate.Body': ['The email template body must not be empty.'],
      'EmailTemplate.Subject': ['The email template subject must not be empty.'],
      'Recipients[0]': [
        'Either a valid email address, organization number, or national identity number must be provided for each recipient.',
      ],
    });
  });

  it('checks identifiers and refuses combinations', () => {
    expect(
      v1({
        notificationChannel: 'Sms',
        smsTemplate: { body: 'x' },
        recipients: [
          { nationalIdentityNumber: '12345678901', mobileNumber: '+4799999999' },
          { organizationNumber: '1234' },
        ],
      }),
    ).toEqual({
      'Recipients[0]': [
        'National identity number cannot be combined with email address, mobile number, or organization number.',
      ],
      'Recipients[1].OrganizationNumber': ['Organization number must be 9 digits long.'],
    });
  });

  it('allows five minutes into the past, and needs a time zone and a valid condition URL', () => {
    const base = {
      notificationChannel: 'Email',
      emailTemplate: { subject: 's', body: 'b' },
      recipients: [{ emailAddress: 'a@b.no' }],
    };
    expect(v1({ ...base, requestedSendTime: '2026-11-27T09:56:00Z' })).toEqual({});
    expect(v1({ ...base, requestedSendTime: '2026-11-27T09:54:00Z' })).toEqual({
      RequestedSendTime: ['Send time must be in the future. Leave blank to send immediately.'],
    });
    expect(v1({ ...base, conditionEndpoint: 'http://localhost:8080/c' })).toEqual({
      ConditionEndpoint: ['The condition endpoint must be a valid URL.'],
    });
    expect(v1({ ...base, conditionEndpoint: 'https://vg.no/condition?x=1' })).toEqual({});
  });
});
