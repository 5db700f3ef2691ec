import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, ManualTimers } from './clock.ts';
import { DEFAULT_WARNING_OFFSETS_MS, planWarnings, serverWarningOffsetsMs, warningKey, warningOffsets, WarningScheduler, type PlannedWarning } from './warning-planner.ts';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const MIN = 60_000;

test('plans one warning per offset, soonest first, with stable keys', () => {
  const plan = planWarnings([{ requestId: 'r1', expiresAt: T0 + 60 * MIN }, { requestId: 'r2', expiresAt: T0 + 30 * MIN }], [10 * MIN, MIN], T0);
  assert.deepEqual(plan.map((w) => [w.requestId, w.offsetMs / MIN, (w.at - T0) / MIN]), [['r2', 10, 20], ['r2', 1, 29], ['r1', 10, 50], ['r1', 1, 59]]);
  assert.equal(plan[0]!.key, warningKey('r2', T0 + 30 * MIN, 10 * MIN));
});

test('a missed warning is given once, late; earlier missed ones and expired or indefinite access are not', () => {
  const plan = planWarnings([
    { requestId: 'late', expiresAt: T0 + 5 * MIN },
    { requestId: 'both-missed', expiresAt: T0 + 30_000 },
    { requestId: 'gone', expiresAt: T0 - 1 },
    { requestId: 'forever', expiresAt: null },
  ], [10 * MIN, MIN], T0);
  assert.deepEqual(plan.map((w) => [w.requestId, w.offsetMs / MIN, w.at <= T0]), [['late', 10, true], ['both-missed', 1, true], ['late', 1, false]]);
});

test('offsets are deduplicated and bad ones ignored', () => {
  const plan = planWarnings([{ requestId: 'r', expiresAt: T0 + 60 * MIN }], [MIN, MIN, 0, -5, NaN, 5 * MIN], T0);
  assert.deepEqual(plan.map((w) => w.offsetMs / MIN), [5, 1]);
});

test('the scheduler fires each warning at its moment, once, with an injected clock', () => {
  const clock = new ManualClock(T0);
  const timers = new ManualTimers(clock);
  const fired: [string, number, number][] = [];
  const s = new WarningScheduler(clock, timers, (w: PlannedWarning) => fired.push([w.requestId, w.offsetMs / MIN, (clock.now() - T0) / MIN]));
  s.update([{ requestId: 'r1', expiresAt: T0 + 15 * MIN }]);
  assert.equal(s.nextAt, T0 + 5 * MIN);
  timers.advance(4 * MIN);
  assert.deepEqual(fired, []);
  timers.advance(MIN);
  assert.deepEqual(fired, [['r1', 10, 5]]);
  // A rebuild of the plan (any event) does not repeat a warning already given.
  s.update([{ requestId: 'r1', expiresAt: T0 + 15 * MIN }]);
  timers.advance(9 * MIN);
  assert.deepEqual(fired, [['r1', 10, 5], ['r1', 1, 14]]);
  timers.advance(10 * MIN);
  assert.equal(fired.length, 2);
  assert.equal(timers.size, 0);
});

test('an extension moves the warnings; a revoke cancels them; new offsets apply on the next update', () => {
  const clock = new ManualClock(T0);
  const timers = new ManualTimers(clock);
  const fired: string[] = [];
  const s = new WarningScheduler(clock, timers, (w) => fired.push(`${w.requestId}@${(clock.now() - T0) / MIN}`));
  s.update([{ requestId: 'r1', expiresAt: T0 + 20 * MIN }, { requestId: 'r2', expiresAt: T0 + 20 * MIN }]);
  timers.advance(5 * MIN);
  s.update([{ requestId: 'r1', expiresAt: T0 + 80 * MIN }]); // r1 extended by an hour, r2 revoked
  timers.advance(66 * MIN);
  assert.deepEqual(fired, ['r1@70']);
  s.setOffsets([2 * MIN]);
  s.update([{ requestId: 'r1', expiresAt: T0 + 80 * MIN }]);
  timers.advance(20 * MIN);
  assert.deepEqual(fired, ['r1@70', 'r1@78']);
  s.stop();
  assert.equal(timers.size, 0);
});

test('the server\'s offsets come from `me` as durations; a server that does not say gives null', () => {
  assert.deepEqual(serverWarningOffsetsMs(['10m', '1m']), [10 * MIN, MIN]);
  assert.deepEqual(serverWarningOffsetsMs(['5m', '30m', '90s', '5m']), [30 * MIN, 5 * MIN, 90_000], 'latest first, each once');
  assert.deepEqual(serverWarningOffsetsMs(['soon', 42, '2m']), [2 * MIN], 'what is not a duration is left out');
  assert.deepEqual(serverWarningOffsetsMs([]), [], 'a server that sends no warnings');
  assert.equal(serverWarningOffsetsMs(undefined), null);
});

test('one list: the server\'s offsets (its default while unknown) and the extra reminders, each offset once', () => {
  assert.deepEqual(warningOffsets([30 * MIN, 5 * MIN], []), [30 * MIN, 5 * MIN]);
  assert.deepEqual(warningOffsets([30 * MIN, 5 * MIN], [5 * MIN, 2 * MIN]), [30 * MIN, 5 * MIN, 2 * MIN]);
  assert.deepEqual(warningOffsets(null, []), DEFAULT_WARNING_OFFSETS_MS);
  assert.deepEqual(warningOffsets(null, [MIN, 15 * MIN]), [15 * MIN, 10 * MIN, MIN]);
  assert.deepEqual(warningOffsets([], [3 * MIN]), [3 * MIN], 'no server warnings: only the reminders');
  // Equal offsets plan one warning with one key, the key the server's event for that moment has.
  const plan = planWarnings([{ requestId: 'r', expiresAt: T0 + 60 * MIN }], warningOffsets([30 * MIN, 5 * MIN], [5 * MIN, 2 * MIN]), T0);
  assert.deepEqual(plan.map((w) => w.key), [30, 5, 2].map((m) => warningKey('r', T0 + 60 * MIN, m * MIN)));
});
