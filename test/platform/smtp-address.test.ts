import { describe, expect, it } from 'vitest';
import { refusedAddress } from '../../processors/send-email/stage.ts';
import { refusedSms } from '../../processors/send-sms/stage.ts';
import { isSingleMailbox } from '../../platform/smtp/address.ts';
import { isValidEmail } from '../../platform/validation/rules.ts';
import { EMAIL_CORPUS } from '../support/email-corpus.ts';

describe('one email, one mailbox', () => {
  it.each(EMAIL_CORPUS.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    // the corpus is what it says: the API accepts exactly the `api` ones …
    expect(isValidEmail(c.address)).toBe(c.api);
    // … and only the `single` ones may go to SMTP
    expect(isSingleMailbox(c.address)).toBe(c.single);
    const refused = refusedAddress({ toAddress: c.address, fromAddress: 'noreply@altinn.cloud' });
    expect(refused?.status ?? 'send').toBe(c.single ? 'send' : 'Email_Failed_InvalidFormat');
  });

  it('refuses a sender address that is not one mailbox (Email_Failed), and never sends', () => {
    expect(refusedAddress({ toAddress: 'a@example.com', fromAddress: 'x@example.com, y@evil1.nl' })).toMatchObject({
      status: 'Email_Failed',
    });
  });
});

describe('SMPP fields', () => {
  it.each([
    ['+4798765432', 'Altinn', null],
    ['+4798765432\u0000+4712345678', 'Altinn', 'SMS_Failed_InvalidRecipient'],
    ['98765432', 'Altinn', 'SMS_Failed_InvalidRecipient'],
    ['+47 98765432', 'Altinn', 'SMS_Failed_InvalidRecipient'],
    ['+4798765432', 'Alt\u0000inn', 'SMS_Failed'],
    ['+4798765432', '   ', 'SMS_Failed'],
    ['+4798765432', 'Skatteetaten Ø', null],
  ])('recipient %j, sender %j → %s', (recipient, sender, status) => {
    expect(refusedSms({ recipient, sender })?.status ?? null).toBe(status);
  });
});
