import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addLocalDays,
  daysBetween,
  formatHHMM,
  formatZoned,
  isValidTimeZone,
  offsetTransitions,
  parseHHMM,
  parseLocalDate,
  weekdayOf,
  zonedParts,
  zonedToInstant,
  zonedToInstants,
} from './zoned-time.ts';

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h, mi, s);

test('IANA zone names are valid time zones, unknown names are not', () => {
  const cases: [string, boolean][] = [
    ['Europe/Berlin', true],
    ['America/New_York', true],
    ['UTC', true],
    ['Asia/Kolkata', true],
    ['Australia/Lord_Howe', true],
    ['Europe/Nowhere', false],
    ['Berlin', false],
    ['', false],
    ['not a zone', false],
  ];
  for (const [tz, valid] of cases) {
    assert.equal(isValidTimeZone(tz), valid, tz);
  }
});

test('zoned parts give the local wall clock and weekday, around DST switches too', () => {
  const cases: [string, number, string, string][] = [
    // zone, instant, expected local "YYYY-MM-DD HH:MM:SS", weekday
    ['UTC', utc(2026, 1, 1, 0, 0, 0), '2026-01-01 00:00:00', 'thu'],
    ['Europe/Berlin', utc(2026, 1, 15, 8, 0, 0), '2026-01-15 09:00:00', 'thu'],
    ['Europe/Berlin', utc(2026, 7, 1, 10, 0, 0), '2026-07-01 12:00:00', 'wed'],
    ['Europe/Berlin', utc(2026, 3, 29, 0, 59, 59), '2026-03-29 01:59:59', 'sun'],
    ['Europe/Berlin', utc(2026, 3, 29, 1, 0, 0), '2026-03-29 03:00:00', 'sun'],
    ['Europe/Berlin', utc(2026, 10, 25, 0, 30, 0), '2026-10-25 02:30:00', 'sun'],
    ['Europe/Berlin', utc(2026, 10, 25, 1, 30, 0), '2026-10-25 02:30:00', 'sun'],
    ['Europe/Berlin', utc(2026, 3, 28, 23, 0, 0), '2026-03-29 00:00:00', 'sun'],
    ['America/New_York', utc(2026, 3, 8, 6, 59, 59), '2026-03-08 01:59:59', 'sun'],
    ['America/New_York', utc(2026, 3, 8, 7, 0, 0), '2026-03-08 03:00:00', 'sun'],
    ['America/New_York', utc(2026, 11, 1, 5, 30, 0), '2026-11-01 01:30:00', 'sun'],
    ['America/New_York', utc(2026, 11, 1, 6, 30, 0), '2026-11-01 01:30:00', 'sun'],
    ['America/New_York', utc(2026, 11, 1, 3, 0, 0), '2026-10-31 23:00:00', 'sat'],
    ['Asia/Kolkata', utc(2026, 1, 1, 0, 0, 0), '2026-01-01 05:30:00', 'thu'],
    ['Pacific/Kiritimati', utc(2026, 1, 1, 10, 15, 0), '2026-01-02 00:15:00', 'fri'],
  ];
  for (const [tz, instant, local, weekday] of cases) {
    const p = zonedParts(instant, tz);
    const pad = (n: number) => String(n).padStart(2, '0');
    const text = `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
    assert.equal(text, local, `${tz} ${new Date(instant).toISOString()}`);
    assert.equal(p.weekday, weekday, `${tz} ${new Date(instant).toISOString()}`);
  }
});

test('midnight is hour 0, never 24', () => {
  assert.equal(zonedParts(utc(2026, 5, 4, 22, 0), 'Europe/Berlin').hour, 0);
  assert.equal(zonedParts(utc(2026, 5, 4, 0, 0), 'UTC').hour, 0);
});

test('milliseconds within a second do not change the wall clock second', () => {
  const p = zonedParts(utc(2026, 5, 4, 12, 0, 7) + 999, 'UTC');
  assert.equal(p.second, 7);
});

test('an unknown zone is an error when asking for zoned parts', () => {
  assert.throws(() => zonedParts(0, 'Europe/Nowhere'), RangeError);
});

test('a local wall time maps to the instant it occurs; a gap shifts forward, an overlap takes the earlier', () => {
  const cases: [string, [number, number, number, number, number], number, string][] = [
    ['UTC', [2026, 6, 1, 12, 0], utc(2026, 6, 1, 12, 0), 'plain UTC'],
    ['Europe/Berlin', [2026, 1, 15, 9, 0], utc(2026, 1, 15, 8, 0), 'winter, +01:00'],
    ['Europe/Berlin', [2026, 7, 1, 12, 0], utc(2026, 7, 1, 10, 0), 'summer, +02:00'],
    ['Europe/Berlin', [2026, 3, 29, 1, 59], utc(2026, 3, 29, 0, 59), 'just before the spring gap'],
    ['Europe/Berlin', [2026, 3, 29, 2, 0], utc(2026, 3, 29, 1, 0), 'start of the gap shifts to 03:00'],
    ['Europe/Berlin', [2026, 3, 29, 2, 30], utc(2026, 3, 29, 1, 30), 'inside the gap shifts to 03:30'],
    ['Europe/Berlin', [2026, 3, 29, 3, 0], utc(2026, 3, 29, 1, 0), 'end of the gap'],
    ['Europe/Berlin', [2026, 3, 29, 9, 0], utc(2026, 3, 29, 7, 0), 'morning after spring forward'],
    ['Europe/Berlin', [2026, 10, 25, 2, 0], utc(2026, 10, 25, 0, 0), 'overlap start, earlier (CEST)'],
    ['Europe/Berlin', [2026, 10, 25, 2, 30], utc(2026, 10, 25, 0, 30), 'overlap, earlier (CEST)'],
    ['Europe/Berlin', [2026, 10, 25, 3, 0], utc(2026, 10, 25, 2, 0), 'after the overlap (CET)'],
    ['Europe/Berlin', [2026, 10, 25, 9, 0], utc(2026, 10, 25, 8, 0), 'morning after fall back'],
    ['America/New_York', [2026, 3, 8, 1, 59], utc(2026, 3, 8, 6, 59), 'just before the spring gap'],
    ['America/New_York', [2026, 3, 8, 2, 30], utc(2026, 3, 8, 7, 30), 'inside the gap shifts to 03:30 EDT'],
    ['America/New_York', [2026, 3, 8, 9, 0], utc(2026, 3, 8, 13, 0), 'morning after spring forward, EDT'],
    ['America/New_York', [2026, 11, 1, 1, 0], utc(2026, 11, 1, 5, 0), 'overlap start, earlier (EDT)'],
    ['America/New_York', [2026, 11, 1, 1, 30], utc(2026, 11, 1, 5, 30), 'overlap, earlier (EDT)'],
    ['America/New_York', [2026, 11, 1, 2, 0], utc(2026, 11, 1, 7, 0), 'after the overlap (EST)'],
    ['America/New_York', [2026, 11, 1, 9, 0], utc(2026, 11, 1, 14, 0), 'morning after fall back, EST'],
    ['Asia/Kolkata', [2026, 1, 1, 5, 30], utc(2026, 1, 1, 0, 0), 'half-hour offset'],
    ['Australia/Lord_Howe', [2026, 4, 5, 1, 45], utc(2026, 4, 4, 14, 45), 'half-hour overlap, earlier'],
    ['Australia/Lord_Howe', [2026, 10, 4, 2, 15], utc(2026, 10, 3, 15, 45), 'half-hour gap shifts by 30 minutes'],
  ];
  for (const [tz, [y, mo, d, h, mi], expected, label] of cases) {
    assert.equal(
      new Date(zonedToInstant(y, mo, d, h, mi, tz)).toISOString(),
      new Date(expected).toISOString(),
      `${tz} ${label}`,
    );
  }
});

test('a wall time occurs never in a gap, twice in an overlap and once otherwise', () => {
  const cases: [string, [number, number, number, number, number], number[]][] = [
    ['Europe/Berlin', [2026, 3, 29, 2, 30], []],
    ['Europe/Berlin', [2026, 10, 25, 2, 30], [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]],
    ['Europe/Berlin', [2026, 10, 25, 3, 0], [utc(2026, 10, 25, 2, 0)]],
    ['America/New_York', [2026, 3, 8, 2, 0], []],
    ['America/New_York', [2026, 11, 1, 1, 30], [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)]],
    ['America/New_York', [2026, 6, 1, 9, 0], [utc(2026, 6, 1, 13, 0)]],
  ];
  for (const [tz, [y, mo, d, h, mi], expected] of cases) {
    assert.deepEqual(zonedToInstants(y, mo, d, h, mi, tz), expected, `${tz} ${y}-${mo}-${d} ${h}:${mi}`);
  }
});

test('offset transitions are found at their exact instant', () => {
  assert.deepEqual(offsetTransitions(utc(2026, 1, 1), utc(2027, 1, 1), 'Europe/Berlin'), [
    utc(2026, 3, 29, 1, 0),
    utc(2026, 10, 25, 1, 0),
  ]);
  assert.deepEqual(offsetTransitions(utc(2026, 1, 1), utc(2027, 1, 1), 'America/New_York'), [
    utc(2026, 3, 8, 7, 0),
    utc(2026, 11, 1, 6, 0),
  ]);
  assert.deepEqual(offsetTransitions(utc(2026, 1, 1), utc(2027, 1, 1), 'UTC'), []);
  assert.deepEqual(offsetTransitions(utc(2026, 4, 1), utc(2026, 5, 1), 'Europe/Berlin'), []);
});

test('local days are added on the calendar, across month, leap day and year ends', () => {
  const cases: [[number, number, number, number], [number, number, number]][] = [
    [[2026, 3, 28, 1], [2026, 3, 29]],
    [[2026, 2, 28, 1], [2026, 3, 1]],
    [[2028, 2, 28, 1], [2028, 2, 29]],
    [[2026, 12, 31, 1], [2027, 1, 1]],
    [[2026, 1, 1, -1], [2025, 12, 31]],
    [[2026, 1, 31, 30], [2026, 3, 2]],
    [[2026, 10, 25, 0], [2026, 10, 25]],
    [[2026, 1, 5, -7], [2025, 12, 29]],
    [[2026, 1, 5, 365], [2027, 1, 5]],
  ];
  for (const [[y, m, d, n], [ey, em, ed]] of cases) {
    assert.deepEqual(addLocalDays(y, m, d, n), { year: ey, month: em, day: ed }, `${y}-${m}-${d} + ${n}`);
  }
});

test('days between dates count calendar days', () => {
  assert.equal(daysBetween({ year: 2026, month: 1, day: 5 }, { year: 2026, month: 1, day: 12 }), 7);
  assert.equal(daysBetween({ year: 2026, month: 3, day: 28 }, { year: 2026, month: 3, day: 30 }), 2);
  assert.equal(daysBetween({ year: 2026, month: 1, day: 5 }, { year: 2025, month: 12, day: 29 }), -7);
});

test('weekdays follow the Gregorian calendar', () => {
  assert.equal(weekdayOf(2026, 3, 29), 'sun');
  assert.equal(weekdayOf(2026, 11, 23), 'mon');
  assert.equal(weekdayOf(2026, 1, 1), 'thu');
  assert.equal(weekdayOf(2028, 2, 29), 'tue');
});

test('a time of day "HH:MM" is read as minutes since midnight', () => {
  const cases: [string, number][] = [
    ['00:00', 0],
    ['08:30', 510],
    ['8:30', 510],
    ['12:00', 720],
    ['23:59', 1439],
  ];
  for (const [text, minutes] of cases) {
    assert.equal(parseHHMM(text), minutes, text);
  }
});

test('anything but a time of day between 00:00 and 23:59 is rejected', () => {
  for (const text of ['24:00', '12:60', '0830', '', '8', '08:3', 'ab:cd', '-1:00', ' 08:30', '08:30:00', '008:30']) {
    assert.throws(() => parseHHMM(text), { message: `expected a time of day "HH:MM" between 00:00 and 23:59, got ${JSON.stringify(text)}` }, text);
  }
});

test('minutes since midnight format back as HH:MM', () => {
  assert.equal(formatHHMM(0), '00:00');
  assert.equal(formatHHMM(510), '08:30');
  assert.equal(formatHHMM(1439), '23:59');
});

test('a local date is read strictly as YYYY-MM-DD', () => {
  assert.deepEqual(parseLocalDate('2026-01-05'), { year: 2026, month: 1, day: 5 });
  assert.deepEqual(parseLocalDate('2028-02-29'), { year: 2028, month: 2, day: 29 });
  for (const text of ['2026-02-29', '2026-13-01', '2026-1-5', '05.01.2026', '']) {
    assert.throws(() => parseLocalDate(text), { message: `expected a date "YYYY-MM-DD", got ${JSON.stringify(text)}` }, text);
  }
});

test('an instant formats as local "YYYY-MM-DD HH:MM"', () => {
  assert.equal(formatZoned(utc(2026, 11, 23, 7, 0), 'Europe/Berlin'), '2026-11-23 08:00');
  assert.equal(formatZoned(utc(2026, 3, 29, 1, 0), 'Europe/Berlin'), '2026-03-29 03:00');
  assert.equal(formatZoned(utc(2026, 11, 1, 4, 5), 'America/New_York'), '2026-11-01 00:05');
});
