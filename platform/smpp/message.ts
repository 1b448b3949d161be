import smpp from 'smpp';

/**
 * Turning an SMS into submit_sm parts (pure): GSM 03.38 when every character has a GSM code
 * (escaped ones count twice), else UCS-2; one part up to 160 septets / 70 UCS-2 units, or
 * concatenated parts of 153 / 67 with an 8-bit-reference UDH, at most 16 parts (longer text is
 * cut, as the reference's segmentation does).
 */
export interface SmsPart {
  dataCoding: 0 | 8;
  text: string;
  udh: Buffer | null;
}

export const MAX_PARTS = 16;

const septets = (s: string): number => (smpp.encodings.ASCII.encode(s) as Buffer).length;

export function isGsm(text: string): boolean {
  return smpp.encodings.ASCII.match(text) as boolean;
}

export function splitMessage(text: string, reference: number): SmsPart[] {
  const gsm = isGsm(text);
  const single = gsm ? 160 : 70;
  const multi = gsm ? 153 : 67;
  const size = (s: string) => (gsm ? septets(s) : s.length);
  if (size(text) <= single) return [{ dataCoding: gsm ? 0 : 8, text, udh: null }];
  const chunks: string[] = [];
  let current = '';
  for (const ch of Array.from(text)) {
    if (size(current + ch) > multi) {
      chunks.push(current);
      current = '';
      if (chunks.length === MAX_PARTS) break;
    }
    current += ch;
  }
  if (current && chunks.length < MAX_PARTS) chunks.push(current);
  return chunks.map((chunk, i) => ({
    dataCoding: gsm ? 0 : 8,
    text: chunk,
    udh: Buffer.from([0x05, 0x00, 0x03, reference & 0xff, chunks.length, i + 1]),
  }));
}

/** TON/NPI of a sender: alphanumeric (5/0), international number (1/1), short code (3/0). */
export function senderAddress(sender: string): { addr: string; ton: number; npi: number } {
  const digits = sender.replace(/^\+/, '');
  if (!/^\d+$/.test(digits)) return { addr: sender.slice(0, 11), ton: 5, npi: 0 };
  if (sender.startsWith('+') || digits.length > 8) return { addr: digits, ton: 1, npi: 1 };
  return { addr: digits, ton: 3, npi: 0 };
}

/** SMPP absolute time (UTC) `YYMMDDhhmmss000+`. */
export function smppTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}000+`;
}

/**
 * A message id as one canonical form: SMSCs answer submit_sm with hex ids and some report
 * receipts in decimal; ids are compared as numbers when they are numbers.
 */
export function canonicalId(id: string, radix: 16 | 10): string {
  const clean = id.trim().toLowerCase();
  if (radix === 16 && /^[0-9a-f]+$/.test(clean)) return BigInt(`0x${clean}`).toString(16);
  if (radix === 10 && /^[0-9]+$/.test(clean)) return BigInt(clean).toString(16);
  return clean;
}

/** The fields of a delivery receipt's text (`id:… sub:… dlvrd:… … stat:DELIVRD err:000 …`). */
export function parseReceipt(text: string): { id: string | null; stat: string | null; err: string | null } {
  const field = (name: string) => new RegExp(`${name}:(\\S+)`, 'i').exec(text)?.[1] ?? null;
  return { id: field('id'), stat: field('stat')?.toUpperCase() ?? null, err: field('err') };
}
