import { parseDateTime } from './rules.ts';

/**
 * A composed email's files (reference §3.5, `SasFileReferenceRules`, `RecipientComposedEmailValidator`):
 * each a blob named by a read SAS URL, fetched by send-email at send time. The rules and their
 * messages are the reference's; two are this platform's own, because the URL is fetched from
 * inside the platform and the filename goes into a MIME header: the host must be one the
 * configuration names (`ATTACHMENT_HOSTS`, by default Azure Blob Storage's), and a filename
 * may hold no control character.
 */
export interface AttachmentRef {
  filename: string;
  mimeType: string;
  sasUrl: string;
}

/** The MIME types Azure Communication Services accepts as email attachments (the reference's list). */
export const ATTACHMENT_MIME_TYPES = [
  'video/3gpp',
  'video/3gpp2',
  'application/x-7z-compressed',
  'audio/aac',
  'video/x-msvideo',
  'image/bmp',
  'text/csv',
  'application/msword',
  'application/vnd.ms-word.document.macroEnabled.12',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-fontobject',
  'application/epub+zip',
  'image/gif',
  'application/gzip',
  'image/vnd.microsoft.icon',
  'text/calendar',
  'image/jpeg',
  'application/json',
  'audio/midi',
  'audio/mpeg',
  'video/mp4',
  'video/mpeg',
  'audio/ogg',
  'video/ogg',
  'application/ogg',
  'application/onenote',
  'audio/opus',
  'font/otf',
  'application/pdf',
  'image/png',
  'application/vnd.ms-powerpoint.slideshow.macroEnabled.12',
  'application/vnd.openxmlformats-officedocument.presentationml.slideshow',
  'application/vnd.ms-powerpoint',
  'application/vnd.ms-powerpoint.presentation.macroEnabled.12',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  'application/vnd.ms-publisher',
  'application/x-rar-compressed',
  'application/vnd.ms-outlook',
  'application/rtf',
  'image/svg+xml',
  'application/x-tar',
  'image/tiff',
  'font/ttf',
  'text/plain',
  'application/vnd.visio',
  'audio/wav',
  'audio/webm',
  'video/webm',
  'image/webp',
  'audio/x-ms-wma',
  'video/x-ms-wmv',
  'font/woff',
  'font/woff2',
  'application/vnd.ms-excel',
  'application/vnd.ms-excel.sheet.binary.macroEnabled.12',
  'application/vnd.ms-excel.sheet.macroEnabled.12',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/xml',
  'text/xml',
  'application/zip',
] as const;

const MIME_BY_LOWER = new Map<string, string>(ATTACHMENT_MIME_TYPES.map((t) => [t.toLowerCase(), t]));

/** The allow-list's own spelling of a MIME type (matched without regard to case), or null. */
export const allowedMimeType = (mimeType: string): string | null => MIME_BY_LOWER.get(mimeType.toLowerCase()) ?? null;

/** The hosts attachments are fetched from by default: Azure Blob Storage's. */
export const DEFAULT_ATTACHMENT_HOSTS = ['blob.core.windows.net'] as const;

const absoluteUrl = (v: string): URL | null => {
  if (/\s/.test(v)) return null;
  try {
    return new URL(v);
  } catch {
    return null;
  }
};

/** `IsAbsoluteHttpsUri`. */
export const isAbsoluteHttpsUrl = (v: string): boolean => absoluteUrl(v)?.protocol === 'https:';

/** A host below (or equal to) one of `hosts` (domain names, without a leading dot). */
export function isAllowedAttachmentHost(v: string, hosts: readonly string[]): boolean {
  const host = absoluteUrl(v)?.hostname.toLowerCase().replace(/\.$/, '');
  if (!host) return false;
  return hosts.some((h) => {
    const d = h.toLowerCase().replace(/^\./, '');
    return host === d || host.endsWith(`.${d}`);
  });
}

const query = (v: string) => absoluteUrl(v)?.searchParams ?? new URLSearchParams();
const present = (q: URLSearchParams, k: string) => (q.get(k) ?? '').trim() !== '';

/** `HasRequiredSasParameters`: se, sp and sig present, sr=b. */
export function hasRequiredSasParameters(v: string): boolean {
  const q = query(v);
  return present(q, 'se') && present(q, 'sp') && present(q, 'sig') && (q.get('sr') ?? '').toLowerCase() === 'b';
}

/** `ParseSasExpiry`: the signed expiry (`se`), a date or an ISO 8601 time (UTC when it names no zone). */
export function sasExpiry(v: string): number | null {
  const se = (query(v).get('se') ?? '').trim();
  if (!se) return null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(se)) {
    const ms = Date.parse(`${se}T00:00:00Z`);
    return Number.isNaN(ms) ? null : ms;
  }
  return parseDateTime(se)?.ms ?? null;
}

/** `HasReadPermission`: `sp` holds `r`. */
export const hasReadPermission = (v: string): boolean => (query(v).get('sp') ?? '').includes('r');

/** `IsValidFilename`: no `/` or `\`, an extension of at least one character; here also no control character. */
export function filenameProblem(filename: string): 'path' | 'control' | null {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(filename)) return 'control';
  const dot = filename.lastIndexOf('.');
  if (filename.includes('/') || filename.includes('\\') || dot < 0 || dot === filename.length - 1) return 'path';
  return null;
}

export type AttachmentField = 'Filename' | 'SasUrl' | 'MimeType';

/**
 * Every problem of one attachment, in the reference's words and order: its fields' rules
 * (`field` set, as `RecipientComposedEmailValidator` reports them), then the request's rules on
 * the item (`field` null, as `ComposedEmailRequestValidator` reports them: a missing or bad `se`,
 * and an expiry less than 15 minutes past the requested send time).
 */
export function attachmentProblems(
  a: { filename?: string | null; mimeType?: string | null; sasUrl?: string | null },
  requestedSendTime: number,
  hosts: readonly string[],
): { field: AttachmentField | null; message: string }[] {
  const p: { field: AttachmentField | null; message: string }[] = [];
  const name = a.filename ?? '';
  const at = `Attachment '${name}'`;
  if (name.trim() === '') p.push({ field: 'Filename', message: 'Attachment filename must not be empty.' });
  else {
    const problem = filenameProblem(name);
    if (problem === 'path')
      p.push({
        field: 'Filename',
        message: `${at}: filename must not contain path separators or traversal sequences, and must include a file extension.`,
      });
    if (problem === 'control')
      p.push({ field: 'Filename', message: `${at}: filename must not contain control characters.` });
  }
  const url = a.sasUrl ?? '';
  const given = url.trim() !== '';
  if (!given) p.push({ field: 'SasUrl', message: `${at}: sasUrl must not be empty.` });
  else if (!isAbsoluteHttpsUrl(url))
    p.push({ field: 'SasUrl', message: `${at}: sasUrl must be an absolute HTTPS URI.` });
  else {
    if (!isAllowedAttachmentHost(url, hosts))
      p.push({
        field: 'SasUrl',
        message: `${at}: sasUrl must point to an allowed storage host (${hosts.map((h) => `*.${h}`).join(', ')}).`,
      });
    if (!hasRequiredSasParameters(url))
      p.push({ field: 'SasUrl', message: `${at}: sasUrl is missing required SAS parameters (se, sig, sp, sr).` });
    else {
      if (sasExpiry(url) === null)
        p.push({ field: 'SasUrl', message: `${at}: sasUrl has an invalid 'se' (signed expiry) value.` });
      if (!hasReadPermission(url))
        p.push({
          field: 'SasUrl',
          message: `${at}: sasUrl does not grant read permission ('r' must be present in 'sp').`,
        });
    }
  }
  const mime = a.mimeType ?? '';
  if (mime.trim() === '') p.push({ field: 'MimeType', message: `${at}: mimeType must not be empty.` });
  else if (!allowedMimeType(mime))
    p.push({
      field: 'MimeType',
      message: `${at}: mimeType is not supported. Refer to ACS documentation for the list of accepted MIME types.`,
    });
  if (given) {
    const expiry = absoluteUrl(url) ? sasExpiry(url) : null;
    if (expiry === null)
      p.push({ field: null, message: `${at}: sasUrl is missing a valid 'se' (signed expiry) parameter.` });
    else if (expiry < requestedSendTime + 15 * 60_000)
      p.push({ field: null, message: `${at}: sasUrl must be valid for at least 15 minutes after requestedSendTime.` });
  }
  return p;
}
