import { DateTime } from 'luxon';

/**
 * The SMS send window: SMS with the Daytime policy go out only while Oslo local time is strictly
 * after `startHour`:00 and strictly before `endHour`:00 (Altinn: `> 09:00 && < 17:00`), every day
 * of the week. All arithmetic is done in the window's time zone, so it holds across the
 * daylight-saving switches.
 */
export interface SendWindow {
  /** IANA zone of the window (default Europe/Oslo) */
  zone: string;
  /** opening hour, local (default 9) */
  startHour: number;
  /** closing hour, local (default 17) */
  endHour: number;
}

export const DEFAULT_WINDOW: SendWindow = { zone: 'Europe/Oslo', startHour: 9, endHour: 17 };

/** The window the configuration sets (SMS_WINDOW_*). */
export const windowOf = (c: {
  SMS_WINDOW_ZONE: string;
  SMS_WINDOW_START_HOUR: number;
  SMS_WINDOW_END_HOUR: number;
}) => ({
  zone: c.SMS_WINDOW_ZONE,
  startHour: c.SMS_WINDOW_START_HOUR,
  endHour: c.SMS_WINDOW_END_HOUR,
});

/** The first instant sending is allowed after the opening hour (the window excludes the hour itself). */
const AFTER_OPENING_MS = 1;

function validate(w: SendWindow): void {
  if (!(
    Number.isInteger(w.startHour) &&
    Number.isInteger(w.endHour) &&
    0 <= w.startHour &&
    w.startHour < w.endHour &&
    w.endHour <= 24
  )) {
    throw new RangeError(`send window hours must satisfy 0 ≤ start < end ≤ 24 (got ${w.startHour}–${w.endHour})`);
  }
  if (!DateTime.now().setZone(w.zone).isValid) throw new RangeError(`unknown time zone ${w.zone}`);
}

function local(instantMs: number, w: SendWindow): DateTime {
  return DateTime.fromMillis(instantMs, { zone: w.zone });
}

/** Is `instantMs` strictly inside the window? */
export function isWithinWindow(instantMs: number, w: SendWindow = DEFAULT_WINDOW): boolean {
  validate(w);
  const t = local(instantMs, w);
  const open = t.set({ hour: w.startHour, minute: 0, second: 0, millisecond: 0 });
  const close =
    w.endHour === 24
      ? t.startOf('day').plus({ days: 1 })
      : t.set({ hour: w.endHour, minute: 0, second: 0, millisecond: 0 });
  return t > open && t < close;
}

/**
 * When an SMS with the Daytime policy may go, if it is due at `instantMs`: the instant itself
 * inside the window, else just after the next opening (later the same day before the opening,
 * the next day after the closing).
 */
export function nextSendOpportunity(instantMs: number, w: SendWindow = DEFAULT_WINDOW): number {
  if (isWithinWindow(instantMs, w)) return instantMs;
  const t = local(instantMs, w);
  const todayOpening = t.startOf('day').set({ hour: w.startHour });
  const opening =
    t < todayOpening.plus({ milliseconds: AFTER_OPENING_MS })
      ? todayOpening
      : todayOpening.plus({ days: 1 }).set({ hour: w.startHour });
  return opening.toMillis() + AFTER_OPENING_MS;
}

const HOURS_48 = 48 * 3600 * 1000;

/**
 * Expiry of a notification (reference §6.2 item 5): email and Anytime SMS 48 h after the send
 * time; Daytime SMS 48 h after it inside the window, that day's opening + 48 h before the
 * window, that day's opening + 72 h after it (hours counted on the local clock).
 */
export function expiryFor(
  channel: 'Email' | 'Sms',
  policy: 'Anytime' | 'Daytime',
  requestedSendTimeMs: number,
  w: SendWindow = DEFAULT_WINDOW,
): number {
  if (channel === 'Email' || policy === 'Anytime') return requestedSendTimeMs + HOURS_48;
  if (isWithinWindow(requestedSendTimeMs, w)) return local(requestedSendTimeMs, w).plus({ days: 2 }).toMillis();
  const t = local(requestedSendTimeMs, w);
  const opening = t.startOf('day').set({ hour: w.startHour });
  return (t <= opening ? opening.plus({ days: 2 }) : opening.plus({ days: 3 })).toMillis();
}
