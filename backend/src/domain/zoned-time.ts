// Local wall-clock time in IANA time zones, using only the built-in Intl API.
// Pure: no I/O, no Node imports, no date libraries.

import type { Weekday } from './config.ts';

export interface ZonedParts {
  year: number;
  /** 1–12. */
  month: number;
  /** 1–31. */
  day: number;
  /** 0–23. */
  hour: number;
  minute: number;
  second: number;
  weekday: Weekday;
}

export interface LocalDate {
  year: number;
  /** 1–12. */
  month: number;
  day: number;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** Index by Date#getUTCDay (0 = Sunday). */
const WEEKDAY_BY_UTC_DAY: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when `tz` is an IANA time zone name (or alias) this runtime knows, e.g. "Europe/Berlin", "UTC". */
export function isValidTimeZone(tz: string): boolean {
  if (typeof tz !== 'string' || tz === '') return false;
  if (formatters.has(tz)) return true;
  try {
    formatterFor(tz);
    return true;
  } catch {
    return false;
  }
}

/** The weekday of a calendar date (proleptic Gregorian). */
export function weekdayOf(year: number, month: number, day: number): Weekday {
  return WEEKDAY_BY_UTC_DAY[new Date(Date.UTC(year, month - 1, day)).getUTCDay()];
}

/** The local date and wall-clock time of `instant` (epoch ms) in `timeZone`. Throws RangeError for an unknown zone. */
export function zonedParts(instant: number, timeZone: string): ZonedParts {
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of formatterFor(timeZone).formatToParts(instant)) {
    switch (part.type) {
      case 'year':
        year = Number(part.value);
        break;
      case 'month':
        month = Number(part.value);
        break;
      case 'day':
        day = Number(part.value);
        break;
      case 'hour':
        hour = Number(part.value);
        break;
      case 'minute':
        minute = Number(part.value);
        break;
      case 'second':
        second = Number(part.value);
        break;
      default:
        break;
    }
  }
  return { year, month, day, hour, minute, second, weekday: weekdayOf(year, month, day) };
}

/** The wall-clock reading at `instant`, expressed as if it were a UTC epoch ms (whole seconds). */
function wallClock(instant: number, timeZone: string): number {
  const p = zonedParts(instant, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
}

/** The zone's UTC offset in ms at `instant` (wall clock minus instant). */
function offsetAt(instant: number, timeZone: string): number {
  const wholeSecond = Math.floor(instant / 1000) * 1000;
  return wallClock(wholeSecond, timeZone) - wholeSecond;
}

/** The offsets in force around a wall-clock time: a day either side covers every zone's offset. */
function candidateOffsets(local: number, timeZone: string): number[] {
  return [...new Set([offsetAt(local - DAY_MS, timeZone), offsetAt(local, timeZone), offsetAt(local + DAY_MS, timeZone)])];
}

/**
 * Every instant (epoch ms, ascending) at which the local wall clock in `timeZone` reads
 * year-month-day hour:minute:00: none inside a spring-forward gap, two in a fall-back
 * overlap, otherwise one.
 */
export function zonedToInstants(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): number[] {
  const local = Date.UTC(year, month - 1, day, hour, minute);
  const instants = new Set<number>();
  for (const offset of candidateOffsets(local, timeZone)) {
    const instant = local - offset;
    if (wallClock(instant, timeZone) === local) instants.add(instant);
  }
  return [...instants].sort((a, b) => a - b);
}

/**
 * The epoch ms at which the local wall time year-month-day hour:minute occurs in `timeZone`.
 * Ambiguous (fall back): the earlier instant. Non-existent (spring-forward gap): the wall
 * time shifted forward by the gap's length (02:30 in a 02:00→03:00 gap gives 03:30).
 * Month and day may overflow like Date.UTC's (month 13 is January of the next year).
 */
export function zonedToInstant(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): number {
  const local = Date.UTC(year, month - 1, day, hour, minute);
  const offsets = candidateOffsets(local, timeZone);
  let gapResolution: number | undefined;
  let earliest: number | undefined;
  for (const offset of offsets) {
    const instant = local - offset;
    const wall = wallClock(instant, timeZone);
    if (wall === local) {
      if (earliest === undefined || instant < earliest) earliest = instant;
    } else if (wall > local) {
      // Read with the offset from before a gap, the instant lands after the gap with its
      // wall clock pushed forward by the gap's length.
      if (gapResolution === undefined || instant < gapResolution) gapResolution = instant;
    }
  }
  if (earliest !== undefined) return earliest;
  if (gapResolution !== undefined) return gapResolution;
  return local - offsetAt(local, timeZone);
}

/**
 * The instants (epoch ms, ascending) in (start, end] at which the UTC offset of `timeZone`
 * changes; each is the first instant with the new offset. Assumes changes are more than
 * six hours apart, which holds for every zone in use.
 */
export function offsetTransitions(start: number, end: number, timeZone: string): number[] {
  const step = 6 * 60 * MINUTE_MS;
  const out: number[] = [];
  let lo = Math.floor(start / 1000) * 1000;
  let loOffset = offsetAt(lo, timeZone);
  while (lo < end) {
    const hi = Math.min(lo + step, Math.ceil(end / 1000) * 1000);
    const hiOffset = offsetAt(hi, timeZone);
    if (hiOffset !== loOffset) {
      // Binary search on whole seconds for the first second with the new offset.
      let a = lo / 1000;
      let b = hi / 1000;
      while (b - a > 1) {
        const mid = Math.floor((a + b) / 2);
        if (offsetAt(mid * 1000, timeZone) === loOffset) a = mid;
        else b = mid;
      }
      const transition = b * 1000;
      if (transition > start && transition <= end) out.push(transition);
    }
    lo = hi;
    loOffset = hiOffset;
  }
  return out;
}

/** Calendar arithmetic: the date `n` days after (or before, for negative n) the given one. */
export function addLocalDays(year: number, month: number, day: number, n: number): LocalDate {
  const d = new Date(Date.UTC(year, month - 1, day + n));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** Whole calendar days from date `a` to date `b` (negative when b is before a). */
export function daysBetween(a: LocalDate, b: LocalDate): number {
  return Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / DAY_MS);
}

const HHMM_PATTERN = /^(\d{1,2}):(\d{2})$/;

/** "08:30" → 510 (minutes since midnight). Accepts 00:00–23:59 ("8:30" too); throws otherwise. */
export function parseHHMM(text: string): number {
  const match = typeof text === 'string' ? HHMM_PATTERN.exec(text) : null;
  const hours = match ? Number(match[1]) : NaN;
  const minutes = match ? Number(match[2]) : NaN;
  if (!(hours >= 0 && hours <= 23 && minutes >= 0 && minutes <= 59)) {
    throw new Error(`expected a time of day "HH:MM" between 00:00 and 23:59, got ${JSON.stringify(text)}`);
  }
  return hours * 60 + minutes;
}

/** 510 → "08:30". */
export function formatHHMM(minutesOfDay: number): string {
  const h = Math.floor(minutesOfDay / 60);
  const m = minutesOfDay % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** "2026-01-05" → { year: 2026, month: 1, day: 5 }; throws for anything that is not a real calendar date. */
export function parseLocalDate(text: string): LocalDate {
  const match = typeof text === 'string' ? DATE_PATTERN.exec(text) : null;
  if (match !== null) {
    const date = { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) };
    const check = addLocalDays(date.year, date.month, date.day, 0);
    if (check.year === date.year && check.month === date.month && check.day === date.day) return date;
  }
  throw new Error(`expected a date "YYYY-MM-DD", got ${JSON.stringify(text)}`);
}

/** `instant` as "YYYY-MM-DD HH:MM" local time in `timeZone`. */
export function formatZoned(instant: number, timeZone: string): string {
  const p = zonedParts(instant, timeZone);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${String(p.year).padStart(4, '0')}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}`;
}
