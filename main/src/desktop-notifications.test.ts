// The tray's expiry warnings with a clock and timers the test moves: planned at the server's
// offsets (from `me`) plus the person's extra reminders, each moment once, also when the
// server's own `request.expiring` event for that moment arrives; the server's default until
// `me` has answered.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, ManualTimers } from '../../common/clock.ts';
import type { AccessRequest } from '../../common/lapse-api.ts';
import type { PlannedNotification, StreamEvent } from '../../common/notifications.ts';
import { DEFAULT_WARNING_OFFSETS_MS, serverWarningOffsetsMs, warningKey } from '../../common/warning-planner.ts';
import { Notifications, warningOffsetsMs } from './desktop-notifications.ts';
import { SeenNotifications } from './seen-notifications.ts';
import { SettingsStore } from './settings.ts';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const MIN = 60_000;

/** The tray's notifications with a recording shell; `server` is what `me` said (null: not yet). */
function tray(opts: { server: string[] | null; extraReminderMinutes?: number[] }) {
  const clock = new ManualClock(T0);
  const timers = new ManualTimers(clock);
  const settings = new SettingsStore({ store: {} });
  if (opts.extraReminderMinutes) settings.update({ extraReminderMinutes: opts.extraReminderMinutes });
  const notes: PlannedNotification[] = [];
  const at: number[] = [];
  let server = opts.server === null ? null : serverWarningOffsetsMs(opts.server);
  const n = new Notifications({
    settings, clock, timers, seen: new SeenNotifications(settings),
    shell: { notify: (x) => { notes.push(x); at.push((clock.now() - T0) / MIN); } },
    serverWarningOffsetsMs: () => server,
    me: () => 'alice',
    myRequest: () => undefined,
    knownRequest: () => undefined,
    fetchRequest: async () => undefined,
  });
  return {
    clock, timers, settings, notes, n,
    /** The warnings given so far: [minutes before expiry it says, minutes after T0 it came]. */
    warnings: () => notes.map((x, i) => [x.title.replace('Access expires in ', ''), at[i]]),
    /** `me` answered with these offsets: the tray plans again. */
    meAnswered(expiryWarnings: string[]) {
      server = serverWarningOffsetsMs(expiryWarnings);
      n.replan();
    },
    /** The server's `request.expiring` event, as the events stream delivers it; resolves once handled. */
    async serverWarns(requestId: string, expiresAt: number, offsetMs: number) {
      const e: StreamEvent = {
        id: `${requestId}:3:request.expiring:warn-${offsetMs}`, type: 'request.expiring', at: new Date(clock.now()).toISOString(), requestId,
        data: { status: 'active', requester: 'alice', flowId: 'demo-auto', expiresAt, warningOffsetMs: offsetMs, msLeft: expiresAt - clock.now() },
      };
      n.onEvent(e);
      await new Promise((r) => setTimeout(r, 10));
    },
  };
}

const active = (id: string, expiresAt: number) => ({ id, status: 'active', expiresAt: new Date(expiresAt).toISOString() }) as AccessRequest;

test('a server warning at 30m and 5m, no extra reminders: the tray warns at 30 and 5 minutes, not at 10 and 1', () => {
  const t = tray({ server: ['30m', '5m'] });
  assert.deepEqual(t.n.offsetsMs(), [30 * MIN, 5 * MIN]);
  const expiresAt = T0 + 60 * MIN;
  t.n.planWarnings([active('r1', expiresAt)]);
  t.timers.advanceTo(T0 + 29 * MIN);
  assert.deepEqual(t.warnings(), []);
  t.timers.advanceTo(T0 + 30 * MIN);
  assert.deepEqual(t.warnings(), [['30 min', 30]]);
  t.timers.advanceTo(T0 + 54 * MIN);
  assert.deepEqual(t.warnings(), [['30 min', 30]], 'nothing 10 minutes before');
  t.timers.advanceTo(expiresAt);
  assert.deepEqual(t.warnings(), [['30 min', 30], ['5 min', 55]], 'and nothing 1 minute before');
  assert.equal(t.notes[1]!.key, warningKey('r1', expiresAt, 5 * MIN), 'the key the server\'s event for that moment has');
  t.n.stop();
});

test('extra reminders [5, 2] on the server\'s [30m, 5m]: warnings at 30, 5 and 2 minutes, the 5-minute one once though the server\'s event for it arrives too', async () => {
  const t = tray({ server: ['30m', '5m'], extraReminderMinutes: [5, 2] });
  assert.deepEqual(t.n.offsetsMs(), [30 * MIN, 5 * MIN, 2 * MIN], 'one list, 5 minutes once');
  const e1 = T0 + 60 * MIN;
  const e2 = T0 + 61 * MIN;
  t.n.planWarnings([active('r1', e1), active('r2', e2)]);

  t.timers.advanceTo(T0 + 31 * MIN);
  assert.deepEqual(t.warnings(), [['30 min', 30], ['30 min', 31]]);

  // r1: the tray's warning first, then the server's event for the same moment.
  t.timers.advanceTo(T0 + 55 * MIN);
  assert.deepEqual(t.warnings().slice(2), [['5 min', 55]]);
  await t.serverWarns('r1', e1, 5 * MIN);
  // r2: the server's event first (its clock a little ahead), then the tray's moment.
  t.timers.advanceTo(T0 + 55.5 * MIN);
  await t.serverWarns('r2', e2, 5 * MIN);
  assert.deepEqual(t.warnings().slice(2), [['5 min', 55], ['5 min', 55.5]]);
  t.timers.advanceTo(T0 + 56 * MIN);
  assert.deepEqual(t.warnings().slice(2), [['5 min', 55], ['5 min', 55.5]], 'the tray\'s own 5-minute warning for r2 is the one already shown');

  t.timers.advanceTo(e2);
  assert.deepEqual(t.warnings().slice(4), [['2 min', 58], ['2 min', 59]]);
  assert.deepEqual(t.notes.map((n) => n.key), [
    warningKey('r1', e1, 30 * MIN), warningKey('r2', e2, 30 * MIN), warningKey('r1', e1, 5 * MIN), warningKey('r2', e2, 5 * MIN), warningKey('r1', e1, 2 * MIN), warningKey('r2', e2, 2 * MIN),
  ], 'each moment once, nothing at 10 or 1 minutes');
  t.n.stop();
});

test('until `me` has answered, the server\'s default (10m and 1m); when it answers, the plan follows the server\'s offsets', () => {
  const t = tray({ server: null });
  assert.deepEqual(t.n.offsetsMs(), DEFAULT_WARNING_OFFSETS_MS);
  const expiresAt = T0 + 60 * MIN;
  t.n.planWarnings([active('r1', expiresAt)]);
  t.timers.advanceTo(T0 + 20 * MIN);
  t.meAnswered(['30m', '5m']);
  t.timers.advanceTo(expiresAt);
  assert.deepEqual(t.warnings(), [['30 min', 30], ['5 min', 55]], 'planned again at the server\'s offsets, the default ones dropped');
  t.n.stop();
});

test('a server without expiry warnings: only the extra reminders; a server that does not say: its default', () => {
  assert.deepEqual(warningOffsetsMs([], [3]), [3 * MIN]);
  assert.deepEqual(warningOffsetsMs([], []), []);
  assert.deepEqual(warningOffsetsMs(serverWarningOffsetsMs(undefined), [10, 3]), [10 * MIN, 3 * MIN, MIN]);
  const t = tray({ server: [], extraReminderMinutes: [3] });
  t.n.planWarnings([active('r1', T0 + 60 * MIN)]);
  t.timers.advanceTo(T0 + 60 * MIN);
  assert.deepEqual(t.warnings(), [['3 min', 57]]);
  t.n.stop();
});
