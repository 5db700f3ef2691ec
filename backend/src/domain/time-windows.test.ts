import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TimeWindow, Weekday } from './config.ts';
import { describeWindow, isWithinWindow, nextWindowChange, nextWindowOpening, windowUnavailableReason } from './time-windows.ts';

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h, mi, s);
const iso = (t: number) => new Date(t).toISOString();

const WEEKDAYS_MON_FRI: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const ALL_DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

const window = (days: Weekday[], from: string, to: string, timezone: string): TimeWindow => ({ days, from, to, timezone });

const officeBerlin = window(WEEKDAYS_MON_FRI, '08:00', '20:00', 'Europe/Berlin');
const fridayNight = window(['fri'], '22:00', '02:00', 'Europe/Berlin');

type Case = [label: string, w: TimeWindow, at: number, open: boolean];

function checkOpen(cases: Case[]): void {
  for (const [label, w, at, open] of cases) {
    assert.equal(isWithinWindow(w, at), open, `${label} (${iso(at)})`);
  }
}

test('a window is open on its listed days from `from` (inclusive) to `to` (exclusive), local time', () => {
  // 2026-11-23 is a Monday; Berlin is on CET (+01:00).
  checkOpen([
    ['Monday 08:00', officeBerlin, utc(2026, 11, 23, 7, 0), true],
    ['Monday 07:59:59', officeBerlin, utc(2026, 11, 23, 6, 59, 59), false],
    ['Monday 19:59:59', officeBerlin, utc(2026, 11, 23, 18, 59, 59), true],
    ['Monday 20:00', officeBerlin, utc(2026, 11, 23, 19, 0), false],
    ['Friday noon', officeBerlin, utc(2026, 11, 27, 11, 0), true],
    ['Saturday noon', officeBerlin, utc(2026, 11, 28, 11, 0), false],
    ['Sunday noon', officeBerlin, utc(2026, 11, 29, 11, 0), false],
    // 07:30 UTC is 08:30 in Berlin but 07:30 in UTC: the zone decides.
    ['Monday 08:30 Berlin', officeBerlin, utc(2026, 11, 23, 7, 30), true],
    ['Monday 07:30 UTC', window(WEEKDAYS_MON_FRI, '08:00', '20:00', 'UTC'), utc(2026, 11, 23, 7, 30), false],
    // Sunday 23:30 UTC is already Monday 08:30 in Tokyo.
    ['Monday 08:30 Tokyo', window(['mon'], '08:00', '20:00', 'Asia/Tokyo'), utc(2026, 11, 22, 23, 30), true],
  ]);
});

test('a window that crosses midnight belongs to the day it started on', () => {
  // 2026-11-20 is a Friday.
  checkOpen([
    ['Friday 22:00', fridayNight, utc(2026, 11, 20, 21, 0), true],
    ['Friday 23:30', fridayNight, utc(2026, 11, 20, 22, 30), true],
    ['Saturday 00:00', fridayNight, utc(2026, 11, 20, 23, 0), true],
    ['Saturday 01:00', fridayNight, utc(2026, 11, 21, 0, 0), true],
    ['Saturday 01:59:59', fridayNight, utc(2026, 11, 21, 0, 59, 59), true],
    ['Saturday 02:00', fridayNight, utc(2026, 11, 21, 1, 0), false],
    ['Saturday 22:30 (saturday not listed)', fridayNight, utc(2026, 11, 21, 21, 30), false],
    ['Friday 01:00 (thursday not listed)', fridayNight, utc(2026, 11, 20, 0, 0), false],
    ['Friday 21:59', fridayNight, utc(2026, 11, 20, 20, 59), false],
    ['Friday 01:00 with thursday listed', window(['thu', 'fri'], '22:00', '02:00', 'Europe/Berlin'), utc(2026, 11, 20, 0, 0), true],
  ]);
});

test('a window whose `to` equals `from` lasts 24 hours from its start', () => {
  const monday = window(['mon'], '00:00', '00:00', 'UTC');
  const saturdayMorning = window(['sat'], '09:00', '09:00', 'UTC');
  checkOpen([
    ['Monday 00:00', monday, utc(2026, 11, 23, 0, 0), true],
    ['Monday 23:59:59', monday, utc(2026, 11, 23, 23, 59, 59), true],
    ['Sunday 23:59:59', monday, utc(2026, 11, 22, 23, 59, 59), false],
    ['Tuesday 00:00', monday, utc(2026, 11, 24, 0, 0), false],
    ['Saturday 08:59', saturdayMorning, utc(2026, 11, 21, 8, 59), false],
    ['Saturday 09:00', saturdayMorning, utc(2026, 11, 21, 9, 0), true],
    ['Sunday 08:59', saturdayMorning, utc(2026, 11, 22, 8, 59), true],
    ['Sunday 09:00', saturdayMorning, utc(2026, 11, 22, 9, 0), false],
  ]);
});

test('a window with no days is never open', () => {
  checkOpen([['Monday noon', window([], '08:00', '20:00', 'UTC'), utc(2026, 11, 23, 12, 0), false]]);
});

test('a window keeps its local hours across the Berlin DST switches (2026-03-29, 2026-10-25)', () => {
  const sunday = window(['sun'], '08:00', '20:00', 'Europe/Berlin');
  const saturdayNight = window(['sat'], '22:00', '04:00', 'Europe/Berlin');
  const inTheGap = window(['sun'], '02:30', '05:00', 'Europe/Berlin');
  const inTheOverlap = window(['sun'], '02:00', '02:30', 'Europe/Berlin');
  checkOpen([
    // Spring: CEST (+02:00) from 01:00 UTC.
    ['spring Sunday 07:59 CEST', sunday, utc(2026, 3, 29, 5, 59), false],
    ['spring Sunday 08:00 CEST', sunday, utc(2026, 3, 29, 6, 0), true],
    ['spring Sunday 19:59 CEST', sunday, utc(2026, 3, 29, 17, 59), true],
    ['spring Sunday 20:00 CEST', sunday, utc(2026, 3, 29, 18, 0), false],
    ['week before, Sunday 08:00 CET', sunday, utc(2026, 3, 22, 7, 0), true],
    ['week before, Sunday 07:00 UTC-equivalent of CEST 08:00', sunday, utc(2026, 3, 22, 6, 0), false],
    // A night window loses the hour the clocks skip: it closes at 04:00 CEST.
    ['spring night 01:59 CET', saturdayNight, utc(2026, 3, 29, 0, 59), true],
    ['spring night 03:59 CEST', saturdayNight, utc(2026, 3, 29, 1, 59), true],
    ['spring night 04:00 CEST', saturdayNight, utc(2026, 3, 29, 2, 0), false],
    // A window starting inside the skipped hour opens when the clocks jump past its start.
    ['gap window 01:59:59 CET', inTheGap, utc(2026, 3, 29, 0, 59, 59), false],
    ['gap window 03:00 CEST', inTheGap, utc(2026, 3, 29, 1, 0), true],
    ['gap window 04:59 CEST', inTheGap, utc(2026, 3, 29, 2, 59), true],
    ['gap window 05:00 CEST', inTheGap, utc(2026, 3, 29, 3, 0), false],
    // Autumn: CET (+01:00) from 01:00 UTC.
    ['autumn Sunday 07:59 CET', sunday, utc(2026, 10, 25, 6, 59), false],
    ['autumn Sunday 08:00 CET', sunday, utc(2026, 10, 25, 7, 0), true],
    ['autumn Sunday 20:00 CET', sunday, utc(2026, 10, 25, 19, 0), false],
    // A night window gains the repeated hour: it closes at 04:00 CET.
    ['autumn night 02:30 CEST', saturdayNight, utc(2026, 10, 25, 0, 30), true],
    ['autumn night 02:30 CET', saturdayNight, utc(2026, 10, 25, 1, 30), true],
    ['autumn night 03:59 CET', saturdayNight, utc(2026, 10, 25, 2, 59), true],
    ['autumn night 04:00 CET', saturdayNight, utc(2026, 10, 25, 3, 0), false],
    // A window inside the repeated hour is open both times the clock shows it.
    ['overlap window 02:00 CEST', inTheOverlap, utc(2026, 10, 25, 0, 0), true],
    ['overlap window 02:30 CEST', inTheOverlap, utc(2026, 10, 25, 0, 30), false],
    ['overlap window 02:00 CET', inTheOverlap, utc(2026, 10, 25, 1, 0), true],
    ['overlap window 02:30 CET', inTheOverlap, utc(2026, 10, 25, 1, 30), false],
  ]);
});

test('a window keeps its local hours across the New York DST switches (2026-03-08, 2026-11-01)', () => {
  const office = window(WEEKDAYS_MON_FRI, '09:00', '17:00', 'America/New_York');
  const saturdayNight = window(['sat'], '22:00', '02:30', 'America/New_York');
  const sundayEarly = window(['sun'], '01:00', '01:30', 'America/New_York');
  checkOpen([
    ['Friday 09:00 EST', office, utc(2026, 3, 6, 14, 0), true],
    ['Friday 08:59 EST', office, utc(2026, 3, 6, 13, 59), false],
    ['Monday 09:00 EDT', office, utc(2026, 3, 9, 13, 0), true],
    ['Monday 08:59 EDT', office, utc(2026, 3, 9, 12, 59), false],
    ['Monday 16:59 EDT', office, utc(2026, 3, 9, 20, 59), true],
    ['Monday 17:00 EDT', office, utc(2026, 3, 9, 21, 0), false],
    // 02:30 never shows on 2026-03-08: the window closes when the clock jumps to 03:00.
    ['spring night 01:59:59 EST', saturdayNight, utc(2026, 3, 8, 6, 59, 59), true],
    ['spring night 03:00 EDT', saturdayNight, utc(2026, 3, 8, 7, 0), false],
    ['Friday 16:59 EDT', office, utc(2026, 10, 30, 20, 59), true],
    ['Monday 09:00 EST', office, utc(2026, 11, 2, 14, 0), true],
    ['Monday 08:59 EST', office, utc(2026, 11, 2, 13, 59), false],
    ['Monday 16:59 EST', office, utc(2026, 11, 2, 21, 59), true],
    ['Monday 17:00 EST', office, utc(2026, 11, 2, 22, 0), false],
    ['repeated hour 01:00 EDT', sundayEarly, utc(2026, 11, 1, 5, 0), true],
    ['repeated hour 01:30 EDT', sundayEarly, utc(2026, 11, 1, 5, 30), false],
    ['repeated hour 01:15 EST', sundayEarly, utc(2026, 11, 1, 6, 15), true],
    ['repeated hour 01:30 EST', sundayEarly, utc(2026, 11, 1, 6, 30), false],
  ]);
});

test('the next opening is the first instant the window opens at or after the given one', () => {
  const cases: [string, TimeWindow, number, number][] = [
    ['from Saturday to Monday 08:00', officeBerlin, utc(2026, 11, 21, 11, 0), utc(2026, 11, 23, 7, 0)],
    ['exactly at an opening', officeBerlin, utc(2026, 11, 23, 7, 0), utc(2026, 11, 23, 7, 0)],
    ['while open: the next day', officeBerlin, utc(2026, 11, 23, 9, 0), utc(2026, 11, 24, 7, 0)],
    ['evening after closing: the next morning', officeBerlin, utc(2026, 11, 24, 19, 0), utc(2026, 11, 25, 7, 0)],
    ['Friday evening: next Monday', officeBerlin, utc(2026, 11, 27, 19, 30), utc(2026, 11, 30, 7, 0)],
    ['inside a crossing window: the next week', fridayNight, utc(2026, 11, 21, 0, 0), utc(2026, 11, 27, 21, 0)],
    ['before a crossing window on its day', fridayNight, utc(2026, 11, 20, 12, 0), utc(2026, 11, 20, 21, 0)],
    [
      'back-to-back days open as one stretch',
      window(['mon', 'tue'], '08:00', '08:00', 'UTC'),
      utc(2026, 11, 23, 12, 0),
      utc(2026, 11, 30, 8, 0),
    ],
    ['Berlin: Sunday after spring forward, CEST', window(['sun'], '08:00', '20:00', 'Europe/Berlin'), utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 6, 0)],
    ['Berlin: Sunday after fall back, CET', window(['sun'], '08:00', '20:00', 'Europe/Berlin'), utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 7, 0)],
    ['Berlin: a start in the skipped hour opens at the jump', window(['sun'], '02:30', '05:00', 'Europe/Berlin'), utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 1, 0)],
    ['Berlin: a window in the repeated hour opens again', window(['sun'], '02:00', '02:30', 'Europe/Berlin'), utc(2026, 10, 25, 0, 45), utc(2026, 10, 25, 1, 0)],
    ['New York: Monday after spring forward, EDT', window(WEEKDAYS_MON_FRI, '09:00', '17:00', 'America/New_York'), utc(2026, 3, 6, 22, 0), utc(2026, 3, 9, 13, 0)],
    ['New York: Monday after fall back, EST', window(WEEKDAYS_MON_FRI, '09:00', '17:00', 'America/New_York'), utc(2026, 10, 30, 21, 0), utc(2026, 11, 2, 14, 0)],
  ];
  for (const [label, w, at, expected] of cases) {
    assert.equal(iso(nextWindowOpening(w, at)), iso(expected), label);
  }
});

test('a window that never opens within 8 days has no next opening', () => {
  assert.throws(() => nextWindowOpening(window([], '08:00', '20:00', 'UTC'), utc(2026, 11, 23)), RangeError);
  assert.throws(() => nextWindowOpening(window(ALL_DAYS, '00:00', '00:00', 'UTC'), utc(2026, 11, 23)), RangeError);
});

test('the next change of a window is its next opening or closing, whichever comes first', () => {
  const cases: [string, TimeWindow, number, number][] = [
    ['open: closes at 20:00', officeBerlin, utc(2026, 11, 23, 10, 0), utc(2026, 11, 23, 19, 0)],
    ['closed in the evening: opens next morning', officeBerlin, utc(2026, 11, 23, 20, 0), utc(2026, 11, 24, 7, 0)],
    ['closed on Friday evening: opens on Monday', officeBerlin, utc(2026, 11, 27, 19, 30), utc(2026, 11, 30, 7, 0)],
    ['exactly at an opening: the closing that follows', officeBerlin, utc(2026, 11, 23, 7, 0), utc(2026, 11, 23, 19, 0)],
    ['inside a window crossing midnight: closes at 02:00 the next day', fridayNight, utc(2026, 11, 27, 22, 30), utc(2026, 11, 28, 1, 0)],
    ['before a window crossing midnight: opens at 22:00', fridayNight, utc(2026, 11, 27, 12, 0), utc(2026, 11, 27, 21, 0)],
    ['Berlin: closes at 20:00 CEST on the day of spring forward', window(['sun'], '08:00', '20:00', 'Europe/Berlin'), utc(2026, 3, 29, 9, 0), utc(2026, 3, 29, 18, 0)],
    ['Berlin: a start in the skipped hour opens at the jump', window(['sun'], '02:30', '05:00', 'Europe/Berlin'), utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 1, 0)],
    ['Berlin: a window in the repeated hour closes, then opens again', window(['sun'], '02:00', '02:30', 'Europe/Berlin'), utc(2026, 10, 25, 0, 10), utc(2026, 10, 25, 0, 30)],
    ['never open: stays so for the 8 days looked at', window([], '08:00', '20:00', 'UTC'), utc(2026, 11, 23), utc(2026, 12, 1)],
    ['always open: stays so for the 8 days looked at', window(ALL_DAYS, '00:00', '00:00', 'UTC'), utc(2026, 11, 23), utc(2026, 12, 1)],
  ];
  for (const [label, w, at, expected] of cases) {
    const next = nextWindowChange(w, at);
    assert.equal(iso(next), iso(expected), label);
    // Nothing changes before it.
    for (const t of [at + 1, Math.floor((at + next) / 2), next - 1]) assert.equal(isWithinWindow(w, t), isWithinWindow(w, at + 1), `${label}: unchanged at ${iso(t)}`);
  }
});

test('a window is described by its days, hours and zone', () => {
  const cases: [TimeWindow, string][] = [
    [officeBerlin, 'mon–fri 08:00–20:00 Europe/Berlin'],
    [fridayNight, 'fri 22:00–02:00 Europe/Berlin'],
    [window(ALL_DAYS, '00:00', '00:00', 'UTC'), 'every day 00:00–00:00 UTC'],
    [window(['sat', 'sun'], '10:00', '14:00', 'UTC'), 'sat, sun 10:00–14:00 UTC'],
    [window(['fri', 'sat', 'sun', 'mon'], '18:00', '06:00', 'UTC'), 'fri–mon 18:00–06:00 UTC'],
    [window(['fri', 'mon', 'wed'], '09:00', '17:00', 'UTC'), 'mon, wed, fri 09:00–17:00 UTC'],
    [window(['mon', 'tue', 'wed', 'fri'], '09:00', '17:00', 'UTC'), 'mon–wed, fri 09:00–17:00 UTC'],
    [window(['sun', 'mon'], '09:00', '17:00', 'UTC'), 'sun, mon 09:00–17:00 UTC'],
    [window(['mon', 'tue', 'thu', 'fri', 'sat', 'sun'], '09:00', '17:00', 'UTC'), 'thu–tue 09:00–17:00 UTC'],
    [window([], '09:00', '17:00', 'UTC'), 'no days 09:00–17:00 UTC'],
    [window(['mon'], '8:00', '9:30', 'UTC'), 'mon 08:00–09:30 UTC'],
  ];
  for (const [w, text] of cases) {
    assert.equal(describeWindow(w), text);
  }
});

test('the unavailable reason is null while open and otherwise names the window and its next opening', () => {
  const cases: [string, TimeWindow, number, string | null][] = [
    ['open', officeBerlin, utc(2026, 11, 23, 10, 0), null],
    [
      'weekend',
      officeBerlin,
      utc(2026, 11, 21, 11, 0),
      'outside its time window (mon–fri 08:00–20:00 Europe/Berlin); next opens 2026-11-23 08:00 Europe/Berlin',
    ],
    [
      'skipped hour',
      window(['sun'], '02:30', '05:00', 'Europe/Berlin'),
      utc(2026, 3, 28, 12, 0),
      'outside its time window (sun 02:30–05:00 Europe/Berlin); next opens 2026-03-29 03:00 Europe/Berlin',
    ],
    [
      'New York after fall back',
      window(WEEKDAYS_MON_FRI, '09:00', '17:00', 'America/New_York'),
      utc(2026, 10, 31, 12, 0),
      'outside its time window (mon–fri 09:00–17:00 America/New_York); next opens 2026-11-02 09:00 America/New_York',
    ],
    ['no days', window([], '08:00', '20:00', 'UTC'), utc(2026, 11, 23, 10, 0), 'outside its time window (no days 08:00–20:00 UTC); it never opens'],
  ];
  for (const [label, w, at, reason] of cases) {
    assert.equal(windowUnavailableReason(w, at), reason, label);
  }
});
