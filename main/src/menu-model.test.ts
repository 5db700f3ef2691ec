import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMenu, extendNeedsWindow, trayIconFile, trayIconState, walkMenu, type MenuItem, type MenuState } from './menu-model.ts';
import { ent, favorite, flow, request } from './menu-fixtures.ts';

const NOW = Date.parse('2026-01-05T12:00:00.000Z');
const at = (minutes: number) => new Date(NOW + minutes * 60_000).toISOString();
const base: MenuState = { connection: { state: 'online' }, catalog: [], favorites: [], myRequests: [], approvalsCount: 0, now: NOW };
const find = (items: MenuItem[], id: string) => {
  const item = [...walkMenu(items)].find((i) => i.id === id);
  assert.ok(item, `menu item ${id}`);
  return item;
};
const labels = (items: MenuItem[] | undefined) => (items ?? []).map((i) => (i.type === 'separator' ? '—' : i.label));

test('empty state: no favorites, nothing to request, no access; the fixed items at the end', () => {
  const m = buildMenu(base);
  assert.deepEqual(labels(m), ['Favorites', 'Request access', '—', 'No active access', '—', 'Approvals', 'Open Lapse', 'Settings…', '—', 'Quit Lapse']);
  assert.equal(find(m, 'favorites').enabled, false);
  assert.deepEqual(find(m, 'quit').action, { kind: 'quit' });
  assert.deepEqual(find(m, 'approvals').action, { kind: 'open', view: 'inbox' });
});

test('favorites: one click when nothing is missing, the pre-filled window when a justification, MFA code or choice is', () => {
  const m = buildMenu({
    ...base,
    catalog: [
      flow('auto'),
      flow('needs-why', { requireJustification: true }),
      flow('mfa', { requireMfa: true }),
      flow('window', { available: false, reason: 'outside its window: Sun 00:00–00:01 Pacific/Kiritimati' }),
      flow('many', { entitlements: [ent('a', 'read'), ent('b', 'read')] }),
    ],
    favorites: [
      favorite('f-auto', 'auto'),
      favorite('f-why', 'needs-why'),
      favorite('f-why-saved', 'needs-why', { justification: 'on-call checks' }),
      favorite('f-mfa', 'mfa'),
      favorite('f-window', 'window'),
      favorite('f-gone', 'removed-flow'),
      favorite('f-choice', 'many', { entitlements: [] }),
    ],
  });
  assert.deepEqual(find(m, 'favorite:f-auto').action, { kind: 'request-favorite', favoriteId: 'f-auto' });
  assert.deepEqual(find(m, 'favorite:f-why-saved').action, { kind: 'request-favorite', favoriteId: 'f-why-saved' });
  const why = find(m, 'favorite:f-why');
  assert.equal(why.label, 'f-why…');
  assert.deepEqual(why.action, { kind: 'open-request', prefill: { favoriteId: 'f-why', flowId: 'needs-why', entitlements: [ent('app', 'read')], duration: '1h' }, needs: ['justification'] });
  assert.deepEqual((find(m, 'favorite:f-mfa').action as { needs: string[] }).needs, ['mfa']);
  assert.deepEqual((find(m, 'favorite:f-choice').action as { needs: string[] }).needs, ['choice']);
  const closed = find(m, 'favorite:f-window');
  assert.equal(closed.enabled, false);
  assert.match(closed.label, /outside its window/);
  assert.equal(find(m, 'favorite:f-gone').enabled, false);
});

test('request access: bundles first, then flows with their entitlements; a flow outside its window is disabled with the reason', () => {
  const bundle = { id: 'b1', name: 'Demo bundle', entitlements: [ent('app', 'read'), ent('analytics', 'read')] };
  const m = buildMenu({
    ...base,
    catalog: [
      flow('read-any', { name: 'Read any database', entitlements: [ent('app', 'read'), ent('analytics', 'read')] }),
      flow('bundle-flow', { name: 'Demo bundle flow', entitlements: [], bundles: [bundle], approval: 'anyOf' }),
      flow('write', { name: 'Write app tables', entitlements: [ent('app/users', 'write', 'table')], requireJustification: true }),
      flow('maint', { name: 'Maintenance window', available: false, reason: 'outside its window' }),
    ],
  });
  const request = find(m, 'request').submenu!;
  assert.deepEqual(labels(request), ['Demo bundle', '—', 'Read any database', 'Demo bundle flow', 'Write app tables', 'Maintenance window — outside its window']);
  assert.deepEqual(find(m, 'bundle:b1').action, { kind: 'request', input: { flowId: 'bundle-flow', bundleId: 'b1' } });
  const read = find(m, 'flow:read-any');
  assert.deepEqual(labels(read.submenu), ['app · read', 'analytics · read', '—', 'Choose…']);
  assert.deepEqual(find(m, 'flow:read-any:demo/database:app#read').action, { kind: 'request', input: { flowId: 'read-any', entitlements: [ent('app', 'read')] } });
  const write = find(m, 'flow:write:demo/table:app/users#write');
  assert.equal(write.label, 'app/users · write…');
  assert.equal(write.action!.kind, 'open-request');
  assert.equal(find(m, 'flow:maint').enabled, false);
  assert.equal(find(m, 'flow:maint').submenu, undefined);
});

test('active access: soonest expiry first, with a countdown and copy / extend / revoke; break-glass and bundles confirm', () => {
  const m = buildMenu({
    ...base,
    catalog: [flow('f')],
    myRequests: [
      request('r-later', { expiresAt: at(42), flowName: 'Read', entitlements: [ent('prod-db', 'read')] }),
      request('r-soon', { expiresAt: at(0.5), entitlements: [ent('app/users', 'write', 'table')], breakGlass: true }),
      request('r-bundle', { expiresAt: null, bundleId: 'b1', bundleName: 'Demo bundle', grants: [] }),
      request('r-maxed', { expiresAt: at(200), extensions: 2, maxExtensions: 2, entitlements: [ent('x', 'admin')] }),
      request('r-done', { status: 'expired', expiresAt: at(-5) }),
    ],
  });
  const active = m.filter((i) => i.type === 'item' && i.id.startsWith('active:'));
  assert.deepEqual(labels(active), ['app/users · write — 30 s left', 'prod-db · read — 42 min left', 'x · admin — 3 h 20 min left', 'Demo bundle — indefinite']);
  assert.deepEqual(labels(find(m, 'active:r-later').submenu), ['Copy access details', 'Extend by 1h', 'Revoke now']);
  assert.deepEqual(find(m, 'active:r-later:revoke').action, { kind: 'revoke', requestId: 'r-later', confirm: false });
  assert.deepEqual(find(m, 'active:r-soon:revoke').action, { kind: 'revoke', requestId: 'r-soon', confirm: true });
  assert.deepEqual(find(m, 'active:r-bundle:revoke').action, { kind: 'revoke', requestId: 'r-bundle', confirm: true });
  assert.equal(find(m, 'active:r-bundle:copy').enabled, false, 'nothing to copy');
  assert.equal(find(m, 'active:r-bundle:extend').enabled, false, 'indefinite access is not extended');
  assert.equal(find(m, 'active:r-maxed:extend').enabled, false, 'no extensions left');
  assert.deepEqual(find(m, 'active:r-later:extend').action, { kind: 'extend', requestId: 'r-later', duration: '1h' });
});

test('requests waiting for approval are listed with a cancel action', () => {
  const m = buildMenu({ ...base, myRequests: [request('p1', { status: 'pending', expiresAt: null, grants: [] })] });
  assert.equal(find(m, 'waiting:p1').label, 'prod-db · read — waiting for approval');
  assert.deepEqual(find(m, 'waiting:p1:cancel').action, { kind: 'cancel', requestId: 'p1' });
  const named = buildMenu({ ...base, myRequests: [request('p2', { status: 'pending', expiresAt: null, grants: [], waitingFor: 'bob or erin' })] });
  assert.equal(find(named, 'waiting:p2').label, 'prod-db · read — waiting for bob or erin', 'who it waits for, where the server says');
});

test('extend: at once where the flow asks nothing more; the extend window where it asks a justification or MFA, or is unknown', () => {
  const m = buildMenu({
    ...base,
    catalog: [flow('plain'), flow('why', { requireJustification: true }), flow('mfa', { requireMfa: true }), flow('sso', { requireMfa: true, stepUp: true })],
    myRequests: ['plain', 'why', 'mfa', 'sso', 'gone'].map((f) => request(`r-${f}`, { flowId: f, expiresAt: at(30), duration: '2h' })),
  });
  assert.deepEqual(find(m, 'active:r-plain:extend').action, { kind: 'extend', requestId: 'r-plain', duration: '2h' });
  assert.equal(find(m, 'active:r-plain:extend').label, 'Extend by 2h');
  for (const f of ['why', 'mfa', 'sso', 'gone']) {
    assert.deepEqual(find(m, `active:r-${f}:extend`).action, { kind: 'open-extend', requestId: `r-${f}` }, f);
    assert.equal(find(m, `active:r-${f}:extend`).label, 'Extend by 2h…', f);
  }
  assert.equal(extendNeedsWindow(flow('plain')), false);
  assert.equal(extendNeedsWindow(undefined), true);
});

test('approvals count in the label; with one request waiting, the inbox opens on it', () => {
  assert.equal(find(buildMenu({ ...base, approvalsCount: 3 }), 'approvals').label, 'Approvals (3)');
  assert.deepEqual(find(buildMenu({ ...base, approvalsCount: 3, approvalIds: ['a', 'b', 'c'] }), 'approvals').action, { kind: 'open', view: 'inbox' });
  const one = find(buildMenu({ ...base, approvalsCount: 1, approvalIds: ['a1'] }), 'approvals');
  assert.equal(one.label, 'Approvals (1)');
  assert.deepEqual(one.action, { kind: 'open', view: 'inbox', requestId: 'a1' });
});

test('admins see the stuck revocations, each with its failed attempts and last error; nothing when there are none', () => {
  const failing = { integration: 'demo', status: 'revoking' as const, entitlements: [], attempts: 3, lastError: 'connection refused', grantedAt: null, revokedAt: null, accessDetails: null };
  const m = buildMenu({ ...base, stuckRevocations: [request('s1', { status: 'revoking', requester: 'bob', grants: [failing] })] });
  assert.equal(find(m, 'stuck').label, 'Stuck revocations (1)');
  assert.equal(find(m, 'stuck:s1').label, 'bob · prod-db · read — 3 failed attempts');
  assert.equal(find(m, 'stuck:s1').toolTip, 'connection refused');
  assert.ok(![...walkMenu(buildMenu({ ...base, stuckRevocations: [] }))].some((i) => i.id === 'stuck'));
});

test('a start notice (revokes run that fell due while the app was closed) comes first', () => {
  const m = buildMenu({ ...base, notice: '2 revokes that fell due while Lapse was closed were run' });
  assert.deepEqual(labels(m.slice(0, 2)), ['2 revokes that fell due while Lapse was closed were run', '—']);
  assert.equal(find(m, 'notice').enabled, false);
});

test('offline: the reason and a reconnect item first; requests and revokes disabled, countdowns kept', () => {
  const m = buildMenu({ ...base, connection: { state: 'offline', detail: 'connect ECONNREFUSED 127.0.0.1:7420' }, catalog: [flow('auto')], favorites: [favorite('f', 'auto')], myRequests: [request('r', { expiresAt: at(5) })] });
  assert.deepEqual(labels(m.slice(0, 3)), ['Offline — connect ECONNREFUSED 127.0.0.1:7420', 'Reconnect now', '—']);
  assert.deepEqual(find(m, 'reconnect').action, { kind: 'reconnect' });
  assert.equal(find(m, 'favorite:f').enabled, false);
  assert.equal(find(m, 'flow:auto:demo/database:app#read').enabled, false);
  assert.equal(find(m, 'active:r:revoke').enabled, false);
  assert.equal(find(m, 'active:r').label, 'prod-db · read — 5 min left');
  const unconfigured = buildMenu({ ...base, connection: { state: 'not-configured' } });
  assert.deepEqual(find(unconfigured, 'status').action, { kind: 'open', view: 'settings' });
});

test('tray icon state: expiring beats approvals beats active beats none', () => {
  const W = 10 * 60_000;
  assert.equal(trayIconState({ ...base }, W), 'none');
  assert.equal(trayIconState({ ...base, myRequests: [request('a', { expiresAt: at(30) })] }, W), 'active');
  assert.equal(trayIconState({ ...base, myRequests: [request('a', { expiresAt: null })] }, W), 'active');
  assert.equal(trayIconState({ ...base, myRequests: [request('a', { expiresAt: at(30) })], approvalsCount: 1 }, W), 'approvals');
  assert.equal(trayIconState({ ...base, myRequests: [request('a', { expiresAt: at(10) })], approvalsCount: 1 }, W), 'expiring');
  assert.equal(trayIconState({ ...base, myRequests: [request('a', { expiresAt: at(10.01) })] }, W), 'active');
  assert.equal(trayIconState({ ...base, myRequests: [request('a', { status: 'expired', expiresAt: at(-1) })] }, W), 'none');
  assert.equal(trayIconFile('expiring', 'darwin', false), 'tray-expiringTemplate.png');
  assert.equal(trayIconFile('expiring', 'linux', true), 'tray-expiring-dark.png');
  assert.equal(trayIconFile('none', 'win32', false), 'tray-none-light.png');
});

test('every icon the tray may ask for exists in build/tray, at 1x and 2x', async () => {
  const { existsSync } = await import('node:fs');
  const dir = new URL('../../build/tray/', import.meta.url);
  for (const state of ['none', 'active', 'expiring', 'approvals'] as const) {
    for (const [platform, dark] of [['darwin', false], ['linux', false], ['linux', true], ['win32', true]] as const) {
      const file = trayIconFile(state, platform, dark);
      assert.ok(existsSync(new URL(file, dir)), file);
      assert.ok(existsSync(new URL(file.replace(/\.png$/, '@2x.png'), dir)), `${file} @2x`);
    }
  }
});
