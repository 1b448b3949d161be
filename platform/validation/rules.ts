import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/**
 * The field rules of the order API (reference §4), shared by the gateway and by the pipeline's
 * check of orders that direct producers publish. Each returns true when the value is valid.
 */

/**
 * The "Altinn 2" email pattern, anchored so a list such as `a@b.no;c@d.no` is refused. The C#
 * source carries HTML entities (`&quot;`, `&amp;`) inside its character classes, a bug inherited
 * from Altinn 2; they are kept so the same addresses pass and fail here as there: the quoted
 * local part is delimited by the literal text `&quot;`, and `;` is a local-part character.
 */
const ATOM = "[a-zA-Z0-9æøåÆØÅ!#$%&'*+\\-=?^_`{|}~;]";
const LABEL = '(?:[a-zA-Z0-9æøåÆØÅ](?:[a-zA-Z0-9\\-æøåÆØÅ]{0,61})[a-zA-Z0-9æøåÆØÅ]\\.|[a-zA-Z0-9æøåÆØÅ]\\.)';
const EMAIL = new RegExp(
  `^(?:(?:&quot;[^&quot;]+&quot;)|(?:${ATOM}+(?:\\.${ATOM}+)*))@(?:(?:${LABEL}{1,9}[a-zA-Z]{2,14})|(?:\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}))$`,
);

export function isValidEmail(email: string | null | undefined): boolean {
  if (!email) return false;
  const trimmed = email.trim();
  return trimmed.length > 0 && trimmed.length <= 320 && EMAIL.test(trimmed);
}

/**
 * A mobile number as the API accepts it: `+` or `00` and a country code (not `++`, no leading
 * space; inner and trailing spaces allowed), valid by libphonenumber's full metadata, and for
 * Norway a number that starts with 4 or 9.
 */
export function isValidMobileNumber(raw: string | null | undefined): boolean {
  if (!raw) return false;
  if (raw.startsWith('++')) return false;
  if (!raw.startsWith('+') && !raw.startsWith('00')) return false;
  const compact = raw.replace(/ /g, '');
  if (!/^(\+|00)\d+$/.test(compact)) return false;
  const e164 = compact.startsWith('00') ? `+${compact.slice(2)}` : compact;
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed || !parsed.isValid()) return false;
  if (parsed.countryCallingCode === '47' && !/^[49]/.test(parsed.nationalNumber)) return false;
  return true;
}

/** The number as it is stored and sent: spaces removed, `00` prefix turned into `+`. */
export function normaliseMobileNumber(raw: string): string {
  const compact = raw.replace(/ /g, '');
  return compact.startsWith('00') ? `+${compact.slice(2)}` : compact;
}

/** 11 ASCII digits; no checksum, as the reference system. */
export const isValidNationalIdentityNumber = (v: string | null | undefined): boolean => !!v && /^[0-9]{11}$/.test(v);

/** 9 ASCII digits; no checksum, as the reference system. */
export const isValidOrganizationNumber = (v: string | null | undefined): boolean => !!v && /^[0-9]{9}$/.test(v);

export const RESOURCE_PREFIX = 'urn:altinn:resource:';

export const isValidResourceId = (v: string): boolean =>
  v.startsWith(RESOURCE_PREFIX) && v.length > RESOURCE_PREFIX.length;

/** v2 rule: an absolute URI. */
export function isAbsoluteUri(v: string): boolean {
  if (/\s/.test(v)) return false;
  try {
    const u = new URL(v);
    return u.protocol.length > 1 && (u.host.length > 0 || u.protocol !== 'http:');
  } catch {
    return false;
  }
}

export const isHttpUri = (v: string): boolean => /^https?:$/i.test(new URL(v).protocol);

/**
 * v1 rule (UriExtensions.IsValidUrl): absolute http(s) with a host name that ends in a dot and a
 * 2+ letter top-level domain, so `localhost` and IP literals are refused.
 */
export function isValidV1Url(v: string): boolean {
  if (!isAbsoluteUri(v) || !isHttpUri(v)) return false;
  return /^[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$/.test(new URL(v).hostname);
}

/** ISO-8601 date-time; `zoned` tells whether it carries `Z` or an offset. */
export function parseDateTime(v: string): { ms: number; zoned: boolean } | null {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)(Z|[+-]\d{2}:?\d{2})?$/i.exec(v.trim());
  if (!m) return null;
  const zoned = m[3] !== undefined;
  const ms = Date.parse(`${m[1]}T${m[2]!.replace(/(\.\d{3})\d+/, '$1')}${m[3] ?? 'Z'}`);
  return Number.isNaN(ms) ? null : { ms, zoned };
}

/** Email subjects: every line break becomes one space. */
export const normaliseSubject = (s: string): string => s.replace(/\r\n|\r|\n/g, ' ');

const EXTERNAL_IDENTITY = [
  /^urn:altinn:person:idporten-email:(.+)$/,
  /^urn:altinn:username:(.*\S.*)$/,
  /^urn:altinn:party:username:(.*\S.*)$/,
  /^urn:altinn:person:legacy-selfidentified:(.*\S.*)$/,
];

export function isValidExternalIdentity(v: string): boolean {
  const email = EXTERNAL_IDENTITY[0]!.exec(v);
  if (email) return isValidEmail(email[1]);
  return EXTERNAL_IDENTITY.slice(1).some((r) => r.test(v));
}
