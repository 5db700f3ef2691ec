// The tray's extend path without Electron or a server: a flow that asks a justification or
// MFA opens the extend window (never the server's 422), a flow that asks nothing extends at
// once, and where notifications show no actions (all but macOS) a click on an expiry
// warning opens the extend window.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CatalogFlow } from '../../common/lapse-api.ts';
import { expiringNotification, type PlannedNotification } from '../../common/notifications.ts';
import { warningKey } from '../../common/warning-planner.ts';
import { MenuActions, showsNotificationActions } from './menu-actions.ts';
import { buildMenu } from './menu-model.ts';
import { flow, request } from './menu-fixtures.ts';
import { CallError, type ServerMethods } from './server-api.ts';

const NOW = Date.parse('2026-01-05T12:00:00.000Z');
const FLOWS: CatalogFlow[] = [flow('plain'), flow('why', { requireJustification: true }), flow('mfa', { requireMfa: true }), flow('sso', { requireMfa: true, stepUp: true })];
const REQUESTS = FLOWS.map((f) => request(`r-${f.id}`, { flowId: f.id, expiresAt: new Date(NOW + 5 * 60_000).toISOString(), duration: '30m' }));

/** A server that answers extend as Lapse does: 422 without a justification where the flow asks one. */
function setup(platform: NodeJS.Platform) {
  const extended: [string, string, string | undefined][] = [];
  const opened: unknown[] = [];
  const notes: PlannedNotification[] = [];
  const api = {
    async extend(id: string, duration: string, justification?: string) {
      const r = REQUESTS.find((x) => x.id === id)!;
      if (FLOWS.find((f) => f.id === r.flowId)!.requireJustification && !justification) {
        throw new CallError({ status: 422, title: 'Invalid request', detail: `flow "${r.flowId}" requires a justification`, field: 'justification' });
      }
      extended.push([id, duration, justification]);
      return r;
    },
  } as unknown as ServerMethods;
  const actions = new MenuActions({
    shell: { quit() {}, copyText() {}, confirm: async () => true, openWindow: (view, o) => void opened.push([view, o]), notify: (n) => void notes.push(n) },
    api: () => api, reconnect: async () => {}, requestRefresh() {}, platform,
    myRequest: (id) => REQUESTS.find((r) => r.id === id),
    flow: (id) => FLOWS.find((f) => f.id === id),
  });
  return { actions, extended, opened, notes };
}

const warning = (id: string) => {
  const expiresAt = NOW + 5 * 60_000;
  return expiringNotification({ requestId: id, expiresAt, offsetMs: 5 * 60_000, key: warningKey(id, expiresAt, 5 * 60_000), at: NOW });
};

test('notification actions show as buttons on macOS only', () => {
  assert.equal(showsNotificationActions('darwin'), true);
  for (const p of ['linux', 'win32', 'freebsd'] as const) assert.equal(showsNotificationActions(p), false, p);
});

test('Extend from the menu: a justification or MFA opens the extend window on the request (no 422); a flow asking nothing extends at once', async () => {
  const t = setup('linux');
  const menu = buildMenu({ connection: { state: 'online' }, catalog: FLOWS, favorites: [], myRequests: REQUESTS, approvalsCount: 0, now: NOW });
  for (const f of ['why', 'mfa', 'sso']) {
    const item = menu.flatMap((i) => (i.type === 'item' ? i.submenu ?? [] : [])).find((i) => i.type === 'item' && i.id === `active:r-${f}:extend`);
    assert.ok(item?.type === 'item' && item.action);
    await t.actions.run(item.action);
  }
  assert.deepEqual(t.opened, ['why', 'mfa', 'sso'].map((f) => ['my-access', { extendRequestId: `r-${f}` }]));
  const plain = menu.flatMap((i) => (i.type === 'item' ? i.submenu ?? [] : [])).find((i) => i.type === 'item' && i.id === 'active:r-plain:extend');
  assert.ok(plain?.type === 'item' && plain.action);
  await t.actions.run(plain.action);
  assert.deepEqual(t.extended, [['r-plain', '30m', undefined]]);
  assert.deepEqual(t.notes, [], 'no failure (no 422) was shown');
});

test('Extend from an expiry warning (macOS): the same choice per flow', async () => {
  const t = setup('darwin');
  for (const f of ['plain', 'why', 'mfa', 'sso']) await t.actions.onNotificationAction(warning(`r-${f}`), 'extend');
  assert.deepEqual(t.extended, [['r-plain', '30m', undefined]]);
  assert.deepEqual(t.opened, ['why', 'mfa', 'sso'].map((f) => ['my-access', { extendRequestId: `r-${f}` }]));
  assert.deepEqual(t.notes, []);
  // On macOS a click opens My access on the request, as before; the buttons do the rest.
  await t.actions.onNotificationAction(warning('r-plain'), 'click');
  assert.deepEqual(t.opened.at(-1), ['my-access', { requestId: 'r-plain' }]);
});

test('Extend from a warning on access the app no longer knows: the extend window, not a guess at the duration', async () => {
  const t = setup('darwin');
  await t.actions.onNotificationAction(warning('r-unknown'), 'extend');
  assert.deepEqual(t.opened, [['my-access', { extendRequestId: 'r-unknown' }]]);
  assert.deepEqual(t.extended, []);
});

test('on Linux and Windows (no notification buttons) a click on the expiry warning opens the extend window; other notifications open their target', async () => {
  for (const platform of ['linux', 'win32'] as const) {
    const t = setup(platform);
    await t.actions.onNotificationAction(warning('r-plain'), 'click');
    await t.actions.onNotificationAction(warning('r-why'), 'click');
    assert.deepEqual(t.opened, [['my-access', { extendRequestId: 'r-plain' }], ['my-access', { extendRequestId: 'r-why' }]], platform);
    assert.deepEqual(t.extended, [], 'a click never extends by itself');
    const approved: PlannedNotification = { key: 'e1', title: 'Request approved', body: '', actions: [], onClick: { view: 'my-access', requestId: 'r-plain' }, requestId: 'r-plain' };
    await t.actions.onNotificationAction(approved, 'click');
    assert.deepEqual(t.opened.at(-1), ['my-access', { requestId: 'r-plain' }]);
  }
});
