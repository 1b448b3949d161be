import type { Request } from 'express';
import {
  isValidNationalIdentityNumber,
  isValidOrganizationNumber,
  parseDateTime,
} from '../../platform/validation/rules.ts';
import type { DashboardKind } from '../../platform/view/store.ts';
import { ValidationErrors } from './reader.ts';

/** The header each lookup takes its number from (`[FromHeader]` in the reference). */
export const DASHBOARD_HEADERS: Record<DashboardKind, string> = {
  nin: 'NationalIdentityNumber',
  org: 'OrganizationNumber',
};

const DAY = 24 * 3600 * 1000;
/** the window when `from` is not given: the last seven days (DashboardRepository) */
export const DEFAULT_WINDOW_MS = 7 * DAY;

export type DashboardRequest =
  { ok: true; value: string; from: number; to: number } | { ok: false; errors: Record<string, string[]> };

/**
 * A query value as ASP.NET binds it to a DateTime: an ISO-8601 date or date-time; without `Z` or
 * an offset it has no time zone (DateTimeKind.Unspecified), and is compared as if UTC.
 */
function dateTime(v: string): { ms: number; zoned: boolean } | null {
  const t = v.trim();
  return /^\d{4}-\d{2}-\d{2}$/.test(t) ? parseDateTime(`${t}T00:00:00`) : parseDateTime(t);
}

/** A query parameter by name in any case (ASP.NET binds them so); the first if repeated. */
function query(req: Request, name: string): string | undefined {
  for (const [k, v] of Object.entries(req.query)) {
    if (k.toLowerCase() !== name) continue;
    const first = Array.isArray(v) ? v[0] : v;
    return typeof first === 'string' ? first : undefined;
  }
  return undefined;
}

/**
 * A support dashboard lookup (`NotificationsByNinRequestValidator`,
 * `NotificationsByOrgNumberRequestValidator` and the `DashboardNotificationRequestValidator` they
 * include): the number from its header, and the window [from, to) of requested send times from
 * the `from` and `to` query parameters (default: the last seven days, up to now), with the
 * reference's messages.
 */
export function readDashboardRequest(req: Request, kind: DashboardKind, now: number): DashboardRequest {
  const errs = new ValidationErrors();
  const header = DASHBOARD_HEADERS[kind];
  const dates: { from?: { ms: number; zoned: boolean }; to?: { ms: number; zoned: boolean } } = {};
  for (const [name, property] of [
    ['from', 'From'],
    ['to', 'To'],
  ] as const) {
    const raw = query(req, name);
    if (raw === undefined || raw === '') continue;
    const parsed = dateTime(raw);
    if (parsed) dates[name] = parsed;
    else errs.add(property, `The value '${raw}' is not valid for ${property}.`);
  }
  const { from, to } = dates;
  if (from) {
    if (!from.zoned) errs.add('From', "The 'from' value must have specified a time zone.");
    if (to && !(from.ms < to.ms)) errs.add('From', "'from' must be earlier than 'to'.");
    if (from.ms > now) errs.add('From', "'from' must not be in the future.");
    const tenYearsAgo = new Date(now);
    tenYearsAgo.setUTCFullYear(tenYearsAgo.getUTCFullYear() - 10);
    if (from.ms < tenYearsAgo.getTime()) errs.add('From', "'from' must not be earlier than 10 years ago.");
  }
  if (to) {
    if (!to.zoned) errs.add('To', "The 'to' value must have specified a time zone.");
    if (to.ms > now) errs.add('To', "'to' must not be in the future.");
    if (!from && !(to.ms > now - DEFAULT_WINDOW_MS))
      errs.add('To', "'to' must be later than the default 'from' (7 days ago).");
  }
  const raw = req.get(header);
  if (raw === undefined) {
    errs.add(header, `A value for the '${header}' parameter or property was not provided.`);
  } else if (raw.trim() === '') {
    errs.add(header, `'${header}' is required and cannot be empty`);
  } else if (kind === 'nin' && !isValidNationalIdentityNumber(raw)) {
    errs.add(header, 'National identity number must be 11 digits long.');
  } else if (kind === 'org' && !isValidOrganizationNumber(raw)) {
    errs.add(header, 'Organization number must be 9 digits long.');
  }
  if (errs.count > 0) return { ok: false, errors: errs.errors };
  return { ok: true, value: raw!, from: from?.ms ?? now - DEFAULT_WINDOW_MS, to: to?.ms ?? now };
}
