import { isValidPhoneNumber } from 'libphonenumber-js/max';

/**
 * A mobile number from a registry as the pipeline uses it (reference §4, "normalisation of
 * looked-up numbers"): `00…` becomes `+…`, an 8-digit number starting with 4 or 9 gets `+47`,
 * inner spaces go; then anything that is not a valid number is dropped (null).
 */
export function normaliseMobile(raw: string | null | undefined): string | null {
  if (!raw) return null;
  let n = raw.replace(/\s+/g, '');
  if (n.startsWith('00')) n = `+${n.slice(2)}`;
  else if (/^[49]\d{7}$/.test(n)) n = `+47${n}`;
  return n.startsWith('+') && isValidPhoneNumber(n) ? n : null;
}

/** Distinct valid mobile numbers, normalised, in first-seen order. */
export function distinctMobiles(numbers: (string | null | undefined)[]): string[] {
  return [...new Set(numbers.map(normaliseMobile).filter((n): n is string => n !== null))];
}

/** Distinct e-mail addresses, compared without regard to case, in first-seen order. */
export function distinctEmails(addresses: (string | null | undefined)[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const a of addresses) {
    const t = a?.trim();
    if (!t || seen.has(t.toLowerCase())) continue;
    seen.add(t.toLowerCase());
    out.push(t);
  }
  return out;
}
