import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShiftConfig } from './config.ts';
import { currentShiftMember, nextHandoff, shiftsOf } from './shifts.ts';

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h, mi, s);
const iso = (t: number) => new Date(t).toISOString();

function shift(overrides: Partial<ShiftConfig>): ShiftConfig {
  return {
    id: 'oncall',
    timezone: 'UTC',
    rotation: 'weekly',
    handoff: '09:00',
    members: ['alice', 'bob', 'carol'],
    anchor: '2026-01-05',
    ...overrides,
  };
}

type MemberCase = [label: string, s: ShiftConfig, at: number, member: string | null];

function checkMembers(cases: MemberCase[]): void {
  for (const [label, s, at, member] of cases) {
    assert.equal(currentShiftMember(s, at), member, `${label} (${iso(at)})`);
  }
}

type HandoffCase = [label: string, s: ShiftConfig, at: number, next: number];

function checkHandoffs(cases: HandoffCase[]): void {
  for (const [label, s, at, next] of cases) {
    assert.equal(iso(nextHandoff(s, at)), iso(next), label);
  }
}

test('members take turns, members[0] from the anchor date at the hand-off time', () => {
  const weekly = shift({});
  const daily = shift({ rotation: 'daily' });
  checkMembers([
    ['weekly: anchor hand-off', weekly, utc(2026, 1, 5, 9, 0), 'alice'],
    ['weekly: last second of the first week', weekly, utc(2026, 1, 12, 8, 59, 59), 'alice'],
    ['weekly: second week', weekly, utc(2026, 1, 12, 9, 0), 'bob'],
    ['weekly: third week', weekly, utc(2026, 1, 19, 9, 0), 'carol'],
    ['weekly: cycles back to the first member', weekly, utc(2026, 1, 26, 9, 0), 'alice'],
    ['weekly: mid-week of week 11', weekly, utc(2026, 3, 25, 12, 0), 'carol'],
    ['daily: anchor hand-off', daily, utc(2026, 1, 5, 9, 0), 'alice'],
    ['daily: next morning before hand-off', daily, utc(2026, 1, 6, 8, 59, 59), 'alice'],
    ['daily: next morning at hand-off', daily, utc(2026, 1, 6, 9, 0), 'bob'],
    ['daily: third day', daily, utc(2026, 1, 7, 9, 0), 'carol'],
    ['daily: fourth day', daily, utc(2026, 1, 8, 23, 0), 'alice'],
    ['daily: midnight hand-off', shift({ rotation: 'daily', handoff: '00:00' }), utc(2026, 1, 6, 0, 0), 'bob'],
    ['a single member is always on', shift({ members: ['solo'] }), utc(2031, 7, 4, 3, 0), 'solo'],
    ['no members: nobody is on', shift({ members: [] }), utc(2026, 1, 5, 9, 0), null],
  ]);
});

test('before the anchor the rotation continues backwards', () => {
  const weekly = shift({});
  const daily = shift({ rotation: 'daily', members: ['alice', 'bob'] });
  checkMembers([
    ['weekly: just before the anchor hand-off', weekly, utc(2026, 1, 5, 8, 59, 59), 'carol'],
    ['weekly: one week earlier', weekly, utc(2025, 12, 29, 8, 59), 'bob'],
    ['weekly: period -2 starts', weekly, utc(2025, 12, 22, 9, 0), 'bob'],
    ['weekly: period -3', weekly, utc(2025, 12, 15, 9, 0), 'alice'],
    ['weekly: 52 weeks earlier', weekly, utc(2025, 1, 6, 9, 0), 'carol'],
    ['weekly: 53 weeks earlier', weekly, utc(2025, 1, 6, 8, 59), 'bob'],
    ['daily: the day before', daily, utc(2026, 1, 5, 8, 59), 'bob'],
    ['daily: two days before', daily, utc(2026, 1, 4, 8, 59), 'alice'],
  ]);
  checkHandoffs([['weekly: the next hand-off before the anchor is the anchor', weekly, utc(2026, 1, 1, 0, 0), utc(2026, 1, 5, 9, 0)]]);
});

test('the hand-off stays at local 09:00 across the Berlin DST switches', () => {
  const weekly = shift({ timezone: 'Europe/Berlin' });
  const dailySpring = shift({ timezone: 'Europe/Berlin', rotation: 'daily', members: ['alice', 'bob'], anchor: '2026-03-27' });
  const dailyAutumn = shift({ timezone: 'Europe/Berlin', rotation: 'daily', members: ['alice', 'bob'], anchor: '2026-10-24' });
  checkMembers([
    // Weekly, Mondays: 2026-03-23 09:00 CET = 08:00Z, 2026-03-30 09:00 CEST = 07:00Z (a 167-hour week).
    ['weekly: anchor 09:00 CET', weekly, utc(2026, 1, 5, 8, 0), 'alice'],
    ['weekly: week 11 from 09:00 CET', weekly, utc(2026, 3, 23, 8, 0), 'carol'],
    ['weekly: 08:59:59 CEST, still week 11', weekly, utc(2026, 3, 30, 6, 59, 59), 'carol'],
    ['weekly: 09:00 CEST, week 12', weekly, utc(2026, 3, 30, 7, 0), 'alice'],
    // 2026-10-19 09:00 CEST = 07:00Z, 2026-10-26 09:00 CET = 08:00Z (a 169-hour week).
    ['weekly: week 41 from 09:00 CEST', weekly, utc(2026, 10, 19, 7, 0), 'carol'],
    ['weekly: 08:59:59 CET, still week 41', weekly, utc(2026, 10, 26, 7, 59, 59), 'carol'],
    ['weekly: 09:00 CET, week 42', weekly, utc(2026, 10, 26, 8, 0), 'alice'],
    // Daily: Saturday 2026-03-28 09:00 CET = 08:00Z to Sunday 09:00 CEST = 07:00Z (23 hours).
    ['daily: Friday 09:00 CET', dailySpring, utc(2026, 3, 27, 8, 0), 'alice'],
    ['daily: Saturday 09:00 CET', dailySpring, utc(2026, 3, 28, 8, 0), 'bob'],
    ['daily: Sunday 08:59:59 CEST', dailySpring, utc(2026, 3, 29, 6, 59, 59), 'bob'],
    ['daily: Sunday 09:00 CEST', dailySpring, utc(2026, 3, 29, 7, 0), 'alice'],
    ['daily: Monday 09:00 CEST', dailySpring, utc(2026, 3, 30, 7, 0), 'bob'],
    // Daily: Saturday 2026-10-24 09:00 CEST = 07:00Z to Sunday 09:00 CET = 08:00Z (25 hours).
    ['daily: Saturday 09:00 CEST', dailyAutumn, utc(2026, 10, 24, 7, 0), 'alice'],
    ['daily: Sunday 08:30 CET', dailyAutumn, utc(2026, 10, 25, 7, 30), 'alice'],
    ['daily: Sunday 09:00 CET', dailyAutumn, utc(2026, 10, 25, 8, 0), 'bob'],
  ]);
  checkHandoffs([
    ['weekly: next hand-off after the spring switch', weekly, utc(2026, 3, 25, 12, 0), utc(2026, 3, 30, 7, 0)],
    ['weekly: next hand-off after the autumn switch', weekly, utc(2026, 10, 21, 12, 0), utc(2026, 10, 26, 8, 0)],
    ['daily: the 23-hour day ends at 09:00 CEST', dailySpring, utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 7, 0)],
    ['daily: the 25-hour day ends at 09:00 CET', dailyAutumn, utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 8, 0)],
  ]);
});

test('the hand-off stays at local 09:00 across the New York DST switches', () => {
  const dailySpring = shift({ timezone: 'America/New_York', rotation: 'daily', anchor: '2026-03-07' });
  const weeklySpring = shift({ timezone: 'America/New_York', members: ['alice', 'bob'], anchor: '2026-03-02' });
  const weeklyAutumn = shift({ timezone: 'America/New_York', members: ['alice', 'bob'], anchor: '2026-10-26' });
  const dailyAutumn = shift({ timezone: 'America/New_York', rotation: 'daily', members: ['alice', 'bob'], anchor: '2026-10-31' });
  checkMembers([
    ['daily: Saturday 09:00 EST', dailySpring, utc(2026, 3, 7, 14, 0), 'alice'],
    ['daily: Sunday 08:59:59 EDT', dailySpring, utc(2026, 3, 8, 12, 59, 59), 'alice'],
    ['daily: Sunday 09:00 EDT', dailySpring, utc(2026, 3, 8, 13, 0), 'bob'],
    ['daily: Monday 09:00 EDT', dailySpring, utc(2026, 3, 9, 13, 0), 'carol'],
    ['weekly: Monday 09:00 EST', weeklySpring, utc(2026, 3, 2, 14, 0), 'alice'],
    ['weekly: next Monday 08:59 EDT', weeklySpring, utc(2026, 3, 9, 12, 59), 'alice'],
    ['weekly: next Monday 09:00 EDT', weeklySpring, utc(2026, 3, 9, 13, 0), 'bob'],
    ['weekly: Monday 09:00 EDT', weeklyAutumn, utc(2026, 10, 26, 13, 0), 'alice'],
    ['weekly: next Monday 08:30 EST', weeklyAutumn, utc(2026, 11, 2, 13, 30), 'alice'],
    ['weekly: next Monday 09:00 EST', weeklyAutumn, utc(2026, 11, 2, 14, 0), 'bob'],
    ['daily: Saturday 09:00 EDT', dailyAutumn, utc(2026, 10, 31, 13, 0), 'alice'],
    ['daily: Sunday 08:59 EST', dailyAutumn, utc(2026, 11, 1, 13, 59), 'alice'],
    ['daily: Sunday 09:00 EST', dailyAutumn, utc(2026, 11, 1, 14, 0), 'bob'],
  ]);
  checkHandoffs([
    ['daily: the 23-hour day ends at 09:00 EDT', dailySpring, utc(2026, 3, 7, 20, 0), utc(2026, 3, 8, 13, 0)],
    ['weekly: the week ends at 09:00 EDT', weeklySpring, utc(2026, 3, 2, 14, 0), utc(2026, 3, 9, 13, 0)],
    ['weekly: the week ends at 09:00 EST', weeklyAutumn, utc(2026, 10, 28, 0, 0), utc(2026, 11, 2, 14, 0)],
    ['daily: the 25-hour day ends at 09:00 EST', dailyAutumn, utc(2026, 10, 31, 13, 0), utc(2026, 11, 1, 14, 0)],
  ]);
});

test('a hand-off inside a skipped or repeated hour happens once', () => {
  const skipped = shift({ timezone: 'Europe/Berlin', rotation: 'daily', handoff: '02:30', members: ['alice', 'bob'], anchor: '2026-03-28' });
  const repeated = shift({ timezone: 'Europe/Berlin', rotation: 'daily', handoff: '02:30', members: ['alice', 'bob'], anchor: '2026-10-24' });
  checkMembers([
    // 02:30 does not exist on 2026-03-29: the hand-off moves forward by the gap, to 03:30 CEST.
    ['skipped: 03:29 CEST', skipped, utc(2026, 3, 29, 1, 29), 'alice'],
    ['skipped: 03:30 CEST', skipped, utc(2026, 3, 29, 1, 30), 'bob'],
    ['skipped: next day 02:30 CEST', skipped, utc(2026, 3, 30, 0, 30), 'alice'],
    // 02:30 happens twice on 2026-10-25: the hand-off is at the first, and is not undone at the second.
    ['repeated: 02:29 CEST', repeated, utc(2026, 10, 25, 0, 29), 'alice'],
    ['repeated: first 02:30 (CEST)', repeated, utc(2026, 10, 25, 0, 30), 'bob'],
    ['repeated: second 02:00 (CET)', repeated, utc(2026, 10, 25, 1, 0), 'bob'],
    ['repeated: second 02:30 (CET)', repeated, utc(2026, 10, 25, 1, 30), 'bob'],
    ['repeated: next day 02:30 CET', repeated, utc(2026, 10, 26, 1, 30), 'alice'],
  ]);
});

test('the next hand-off is strictly after the given instant', () => {
  const weekly = shift({});
  checkHandoffs([
    ['at a hand-off: the one after', weekly, utc(2026, 1, 5, 9, 0), utc(2026, 1, 12, 9, 0)],
    ['just before a hand-off: that one', weekly, utc(2026, 1, 12, 8, 59, 59), utc(2026, 1, 12, 9, 0)],
    ['daily', shift({ rotation: 'daily' }), utc(2026, 2, 28, 10, 0), utc(2026, 3, 1, 9, 0)],
  ]);
});

test('a user is on the shifts whose current member they are, in configuration order', () => {
  const shifts: ShiftConfig[] = [
    shift({ id: 'sre', members: ['alice', 'bob'] }),
    shift({ id: 'ops', members: ['bob', 'alice'] }),
    shift({ id: 'dba', rotation: 'daily', members: ['alice', 'carol'] }),
    shift({ id: 'empty', members: [] }),
  ];
  const monday = utc(2026, 1, 5, 12, 0);
  const tuesday = utc(2026, 1, 6, 12, 0);
  const cases: [string, number, string[]][] = [
    ['alice', monday, ['sre', 'dba']],
    ['bob', monday, ['ops']],
    ['carol', monday, []],
    ['carol', tuesday, ['dba']],
    ['alice', tuesday, ['sre']],
    ['nobody', monday, []],
  ];
  for (const [user, at, expected] of cases) {
    assert.deepEqual(shiftsOf(user, shifts, at), expected, `${user} ${iso(at)}`);
  }
});

test('a malformed anchor or hand-off is an error', () => {
  assert.throws(() => currentShiftMember(shift({ anchor: '2026-02-30' }), utc(2026, 3, 1)), /expected a date "YYYY-MM-DD"/);
  assert.throws(() => currentShiftMember(shift({ handoff: '25:00' }), utc(2026, 3, 1)), /expected a time of day "HH:MM"/);
});
