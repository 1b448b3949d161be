import addressparser from 'nodemailer/lib/addressparser/index.js';

/**
 * Is this exactly one mailbox, safe to hand to SMTP as the one envelope recipient and as the
 * whole `To` header?
 *
 * The order API accepts what the reference's "Altinn 2" pattern accepts, and that pattern lets
 * through quoted local parts (delimited by the literal text `&quot;`) holding commas, `<…>`,
 * group syntax and line breaks, and `;` in atoms. A mail library that parses such a string
 * finds an address list in it. So at send time, whatever the address came from (an order, a
 * registry, a direct producer), it must read back, through the very parser nodemailer uses, as
 * one mailbox equal to the input, with no display name and no group; and it must hold no
 * whitespace or control character (an SMTP command line ends at CR LF) and no RFC 2047 encoded
 * word (`=?…?=`), which a mail client may decode in a header into another address.
 */
export function isSingleMailbox(address: string): boolean {
  if (address.length === 0 || address.length > 320) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f\u0085\u00a0\u2028\u2029]/.test(address)) return false;
  if (address.includes('=?')) return false;
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return false;
  const parsed = addressparser(address, { flatten: false });
  if (parsed.length !== 1) return false;
  const only = parsed[0]!;
  return !('group' in only) && only.name === '' && only.address === address;
}
