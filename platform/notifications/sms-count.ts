/**
 * The SMS messages one SMS notification counts for, as the reference counts them for its metrics
 * (`smscount`, `CalculateNumberOfMessages`): the length of the text as .NET's
 * `HttpUtility.UrlEncode` writes it (UTF-8; letters, digits and `-_.!*()` as they are, a space as
 * `+`, every other byte as `%xx`), one message up to 160, else one per 134 begun, at most 16. It
 * is computed from the order's text, before `$recipientName$` and the like are filled in, as the
 * reference computes it. (The SMSC is sent the real parts: platform/smpp/message.ts.)
 */
export function smsCountOf(text: string): number {
  let length = 0;
  for (const byte of Buffer.from(text, 'utf8')) length += UNESCAPED.has(byte) ? 1 : 3;
  if (length <= 160) return 1;
  return Math.min(16, Math.ceil(length / 134));
}

/** the bytes UrlEncode writes as one character (itself, or `+` for a space) */
const UNESCAPED = new Set<number>(
  [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!*() '].map((c) => c.charCodeAt(0)),
);
