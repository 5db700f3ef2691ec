// Weekly time windows ("mon–fri 08:00–20:00 Europe/Berlin") in which a flow may be used.
// All comparisons are on the local wall clock of the window's zone, so a window keeps its
// local hours across daylight-saving changes. Pure: no I/O, no Node imports.

import { WEEKDAYS } from './config.ts';
import type { TimeWindow, Weekday } from './config.ts';
import {
  addLocalDays,
  formatHHMM,
  formatZoned,
  offsetTransitions,
  parseHHMM,
  weekdayOf,
  zonedParts,
  zonedToInstants,
} from './zoned-time.ts';

const DAY_MS = 86_400_000;
/** How far ahead nextWindowOpening looks. */
const SEARCH_DAYS = 8;

function previousWeekday(day: Weekday): Weekday {
  return WEEKDAYS[(WEEKDAYS.indexOf(day) + 6) % 7];
}

/**
 * Whether the window is open at `at` (epoch ms). On each listed day it opens at `from` and
 * closes at `to` (exclusive), both local wall-clock times in `w.timezone`. When `to` is at
 * or before `from`, the window runs past midnight, and the part after midnight belongs to
 * the listed day it started on: a fri 22:00–02:00 window is open on Saturday at 01:00.
 */
export function isWithinWindow(w: TimeWindow, at: number): boolean {
  const from = parseHHMM(w.from);
  const to = parseHHMM(w.to);
  const p = zonedParts(at, w.timezone);
  const now = p.hour * 60 + p.minute;
  if (to > from) return w.days.includes(p.weekday) && now >= from && now < to;
  return (w.days.includes(p.weekday) && now >= from) || (w.days.includes(previousWeekday(p.weekday)) && now < to);
}

/**
 * The instants in [at, at + 8 days] at which the wall clock of the window's zone reads one
 * of `times` (minutes of the day) on a day `onDay` accepts, plus the offset changes in that
 * time (where the wall clock jumps): the only instants at which the window can open or
 * close. Unsorted.
 */
function boundaryCandidates(w: TimeWindow, at: number, times: number[], onDay: (day: Weekday) => boolean): number[] {
  const horizon = at + SEARCH_DAYS * DAY_MS;
  const candidates = offsetTransitions(at, horizon, w.timezone);
  const today = zonedParts(at, w.timezone);
  for (let n = -1; n <= SEARCH_DAYS + 1; n++) {
    const date = addLocalDays(today.year, today.month, today.day, n);
    if (!onDay(weekdayOf(date.year, date.month, date.day))) continue;
    for (const minutes of times) candidates.push(...zonedToInstants(date.year, date.month, date.day, Math.floor(minutes / 60), minutes % 60, w.timezone));
  }
  return candidates.filter((t) => t >= at && t <= horizon);
}

/**
 * The first instant at or after `at` at which the window opens (is open, having been closed
 * just before). When the window is open at `at`, that is the opening after the current
 * stretch closes. Looks up to 8 days ahead; throws RangeError when the window does not open
 * in that time (no days listed, or open for the whole of it).
 */
export function nextWindowOpening(w: TimeWindow, at: number): number {
  // It can only open when the wall clock reaches `from` on a listed day, or jumps.
  let best: number | undefined;
  for (const t of boundaryCandidates(w, at, [parseHHMM(w.from)], (day) => w.days.includes(day))) {
    if ((best === undefined || t < best) && isWithinWindow(w, t) && !isWithinWindow(w, t - 1)) best = t;
  }
  if (best === undefined) {
    throw new RangeError(`the time window (${describeWindow(w)}) does not open within ${SEARCH_DAYS} days`);
  }
  return best;
}

/**
 * The first instant after `at` at which the window opens or closes. Looks up to 8 days
 * ahead; when it does neither in that time (no days listed, or open throughout), answers
 * the end of that look-ahead: until then it stays as it is at `at`.
 */
export function nextWindowChange(w: TimeWindow, at: number): number {
  // It can only change when the wall clock reaches `from` or `to` (a closing after midnight
  // falls on a day that is not listed), or jumps.
  let best = at + SEARCH_DAYS * DAY_MS;
  for (const t of boundaryCandidates(w, at, [parseHHMM(w.from), parseHHMM(w.to)], () => true)) {
    if (t > at && t < best && isWithinWindow(w, t) !== isWithinWindow(w, t - 1)) best = t;
  }
  return best;
}

/** The listed days compactly: runs of three or more as "mon–fri", wrapping past Sunday ("fri–mon"). */
function describeDays(days: readonly Weekday[]): string {
  const listed = WEEKDAYS.map((d) => days.includes(d));
  if (listed.every(Boolean)) return 'every day';
  if (!listed.some(Boolean)) return 'no days';
  const runs: Weekday[][] = [];
  for (let i = 0; i < 7; i++) {
    if (!listed[i]) continue;
    const last = runs[runs.length - 1];
    if (last !== undefined && i > 0 && listed[i - 1]) last.push(WEEKDAYS[i]);
    else runs.push([WEEKDAYS[i]]);
  }
  // A run ending on Sunday continues into one starting on Monday.
  if (runs.length > 1 && listed[0] && listed[6]) {
    const first = runs.shift() as Weekday[];
    runs[runs.length - 1].push(...first);
  }
  return runs
    .map((run) => (run.length >= 3 ? `${run[0]}–${run[run.length - 1]}` : run.join(', ')))
    .join(', ');
}

/** "mon–fri 08:00–20:00 Europe/Berlin". */
export function describeWindow(w: TimeWindow): string {
  return `${describeDays(w.days)} ${formatHHMM(parseHHMM(w.from))}–${formatHHMM(parseHHMM(w.to))} ${w.timezone}`;
}

/**
 * Null when the window is open at `at`; otherwise why not, e.g.
 * "outside its time window (mon–fri 08:00–20:00 Europe/Berlin); next opens 2026-11-23 08:00 Europe/Berlin".
 */
export function windowUnavailableReason(w: TimeWindow, at: number): string | null {
  if (isWithinWindow(w, at)) return null;
  const reason = `outside its time window (${describeWindow(w)})`;
  if (w.days.length === 0) return `${reason}; it never opens`;
  return `${reason}; next opens ${formatZoned(nextWindowOpening(w, at), w.timezone)} ${w.timezone}`;
}
