// The tray app's controller against a real server, with a recording shell in place of
// Electron: the menu follows the events stream, notifications come once and respect do
// not disturb, menu actions reach the server, IPC calls are validated.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Conf from 'conf';
import { startTestServer, usersWrite, appRead, EXAMPLE, type TestServer } from '../../backend/src/api/api-test-support.ts';
import { ManualClock, systemClock } from '../../common/clock.ts';
import type { PlannedNotification } from '../../common/notifications.ts';
import { Controller, type Shell } from './controller.ts';
import { SettingsStore } from './settings.ts';
import { TokenVault, type KeychainEntry } from './keychain.ts';
import { walkMenu, type MenuItem, type TrayIconState } from './menu-model.ts';
import { CallError } from './server-api.ts';

let server: TestServer;
const dirs: string[] = [];
const controllers: Controller[] = [];
after(async () => {
  for (const c of controllers) await c.stop();
  await server?.svc.stop();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** An in-memory keychain: the real one is tested in keychain.test.ts. */
function memoryVault(): TokenVault {
  const data = new Map<string, string>();
  return new TokenVault((service, account): KeychainEntry => ({
    getPassword: () => data.get(`${service}/${account}`) ?? null,
    setPassword: (p) => void data.set(`${service}/${account}`, p),
    deletePassword: () => data.delete(`${service}/${account}`),
  }));
}

class RecordingShell implements Shell {
  menu: MenuItem[] = [];
  icon: TrayIconState = 'none';
  renders = 0;
  notes: PlannedNotification[] = [];
  copied: string[] = [];
  confirms: string[] = [];
  opened: unknown[] = [];
  browsed: string[] = [];
  answer = true;
  render(menu: MenuItem[], icon: TrayIconState) { this.menu = menu; this.icon = icon; this.renders++; }
  notify(n: PlannedNotification) { this.notes.push(n); }
  broadcast() {}
  async confirm(message: string) { this.confirms.push(message); return this.answer; }
  copyText(t: string) { this.copied.push(t); }
  openWindow(view: string, o?: unknown) { this.opened.push([view, o]); }
  quit() {}
  setLaunchAtLogin() {}
  async openExternal(url: string) { this.browsed.push(url); }
  item(id: string) { return [...walkMenu(this.menu)].find((i) => i.id === id); }
  labels() { return [...walkMenu(this.menu)].map((i) => i.label); }
}

async function until(what: string, cond: () => unknown, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const vault = memoryVault();

async function controllerFor(user: 'alice' | 'bob', settingsDir?: string, platform: NodeJS.Platform = 'darwin') {
  const cwd = settingsDir ?? mkdtempSync(join(tmpdir(), 'lapse-ctl-'));
  if (!settingsDir) dirs.push(cwd);
  const settings = new SettingsStore(new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }));
  if (!settingsDir) settings.update({ serverUrl: server.svc.url });
  vault.set(server.svc.url, server.tokens[user]);
  const shell = new RecordingShell();
  const c = new Controller({ settings, vault, shell, clock: systemClock, timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) }, startEmbedded: () => Promise.reject(new Error('not in this test')), debounceMs: 50, platform });
  controllers.push(c);
  await c.connect();
  await until(`${user} online`, () => c.connectionState.state === 'online');
  return { c, shell, settings, cwd };
}

test('one click from the menu, the menu follows; approval, notification once; revoke with confirmation', async () => {
  server = await startTestServer();
  const alice = await controllerFor('alice');
  const bob = await controllerFor('bob');
  const sent: import('../../backend/src/engine/events.ts').LapseEvent[] = [];
  const unsubscribe = server.svc.events.subscribe((e) => sent.push(e));
  await until('the catalog in the menu', () => alice.shell.item('flow:demo-auto'));

  // One click on an automatically approved entitlement: active within a second or so.
  const t0 = Date.now();
  await alice.c.runAction(alice.shell.item('flow:demo-auto:demo/database:app#read')!.action!);
  await until('active access in the menu', () => alice.shell.labels().some((l) => /^app · read — (59 min|1 h) left$/.test(l)));
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(alice.shell.icon, 'active');
  assert.deepEqual(alice.shell.notes.map((n) => n.title), ['Access granted']);

  // A request that needs approval: bob is told, and sees Approvals (1).
  const created = await alice.c.call('lapse:call:createRequest', [{ flowId: 'demo-approval', entitlements: [usersWrite], justification: 'incident 9' }]) as { id: string };
  await until('bob notified', () => bob.shell.notes.some((n) => n.title === 'Request waiting for your approval'));
  await until('bob sees the count', () => bob.shell.item('approvals')?.label === 'Approvals (1)');
  assert.deepEqual(bob.shell.item('approvals')!.action, { kind: 'open', view: 'inbox', requestId: created.id }, 'the inbox opens on the one request waiting');
  assert.equal(bob.shell.icon, 'approvals');
  const asked = bob.shell.notes.find((n) => n.title === 'Request waiting for your approval')!;
  assert.deepEqual(asked.onClick, { view: 'inbox', requestId: created.id });
  assert.equal(asked.body, 'alice asks for app/users · write', 'named after the request, read from the server');
  await bob.c.call('lapse:call:approve', [created.id, 'go ahead']);
  await until('alice told', () => alice.shell.notes.some((n) => n.title === 'Request approved'));
  assert.match(alice.shell.notes.find((n) => n.title === 'Request approved')!.body, /app\/users · write — approved by bob: go ahead/);
  await until('two active entries', () => alice.shell.labels().filter((l) => / left$/.test(l)).length === 2);

  // Revoke a break-glass-less single grant: no confirmation; declining a confirmed one keeps it.
  const readId = (await alice.c.call('lapse:call:listMyRequests', [{ statuses: ['active'] }]) as { id: string; flowId: string }[]).find((r) => r.flowId === 'demo-auto')!.id;
  const revoke = alice.shell.item(`active:${readId}:revoke`)!.action!;
  assert.deepEqual(revoke, { kind: 'revoke', requestId: readId, confirm: false });
  await alice.c.runAction(revoke);
  await until('revoked entry gone', () => !alice.shell.item(`active:${readId}`));
  assert.deepEqual(alice.shell.confirms, []);
  alice.shell.answer = false;
  await alice.c.runAction({ kind: 'revoke', requestId: created.id, confirm: true });
  assert.equal(alice.shell.confirms.length, 1);
  assert.equal((await alice.c.call('lapse:call:getRequest', [created.id]) as { status: string }).status, 'active');

  // Copy access details from the menu.
  await alice.c.runAction({ kind: 'copy-access-details', requestId: created.id });
  assert.match(alice.shell.copied[0]!, /^# demo\n/);

  // A restart on the same settings, and the server sending every earlier event again (as a
  // replay after a reconnect would): nothing is shown twice; the next new event is.
  unsubscribe();
  assert.equal(new Set(alice.shell.notes.map((n) => n.key)).size, alice.shell.notes.length);
  await alice.c.stop();
  const again = await controllerFor('alice', alice.cwd);
  for (const e of sent) server.svc.events.publish(e);
  const revoked = await server.as('bob', 'POST', `/api/v1/requests/${created.id}/revoke`, { reason: 'done' });
  assert.equal(revoked.status, 200, revoked.text);
  await until('the revoke notification', () => again.shell.notes.length > 0);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(again.shell.notes.map((n) => n.title), ['Access revoked']);
});

test('do not disturb: nothing shown, and nothing shown later for what happened meanwhile', async () => {
  server ??= await startTestServer();
  const alice = await controllerFor('alice');
  await alice.c.call('lapse:call:updateSettings', [{ doNotDisturb: true }]);
  await alice.c.call('lapse:call:createRequest', [{ flowId: 'demo-auto', entitlements: [appRead] }]);
  await until('the menu shows it', () => alice.shell.labels().some((l) => l.startsWith('app · read —')));
  // The grant's event may arrive after the request's answer: wait until it was handled.
  await until('recorded as seen', () => alice.settings.get().notificationState.keys.some((k) => k.endsWith(':request.granted')));
  assert.deepEqual(alice.shell.notes, []);
});

test('IPC: bad channels and payloads are refused with the field; settings errors name the setting; the token never comes back', async () => {
  server ??= await startTestServer();
  const alice = await controllerFor('alice');
  const refused = async (channel: string, args: unknown[]) => {
    try {
      await alice.c.call(channel, args);
    } catch (err) {
      assert.ok(err instanceof CallError, String(err));
      return err.data;
    }
    assert.fail(`${channel} accepted`);
  };
  assert.equal((await refused('lapse:call:eval', []))!.field, 'channel');
  assert.equal((await refused('lapse:call:getRequest', [{ $ne: 1 }]))!.field, 'getRequest(args[0])');
  assert.equal((await refused('lapse:call:updateSettings', [{ serverUrl: 'nope' }]))!.field, 'serverUrl');
  const problem = (await refused('lapse:call:createRequest', [{ flowId: 'demo-approval', entitlements: [usersWrite] }]))!;
  assert.equal(problem.status, 422, 'the server’s own validation comes back as problem data');
  assert.equal(problem.field, 'justification');
  const settings = await alice.c.call('lapse:call:getSettings', []) as Record<string, unknown>;
  assert.equal(settings.hasToken, true);
  assert.doesNotMatch(JSON.stringify(settings), /lapse_[a-z0-9]{12}_/);
  // This server has no single sign-on: main says so, and the renderer cannot name another server.
  assert.equal(await alice.c.call('lapse:call:ssoAvailable', []), false);
  assert.equal((await refused('lapse:call:signInWithSso', ['https://elsewhere.example']))!.field, 'signInWithSso(args[0])', 'only a flow id (a step-up), never a server');
  assert.deepEqual(alice.shell.browsed, []);
  await alice.c.call('lapse:call:clearToken', []);
  assert.equal(alice.c.connectionState.state, 'not-configured');
  assert.equal((await alice.c.call('lapse:call:getSettings', []) as { hasToken: boolean }).hasToken, false);
});

test('local expiry warnings at an extra reminder, with Extend and Revoke now acting on the server', async () => {
  server ??= await startTestServer();
  const alice = await controllerFor('alice');
  // An extra reminder 60 minutes before the end of one hour of access is due at once.
  await alice.c.call('lapse:call:updateSettings', [{ extraReminderMinutes: [60] }]);
  const r = await alice.c.call('lapse:call:createRequest', [{ flowId: 'demo-auto', entitlements: [appRead] }]) as { id: string };
  await until('the warning', () => alice.shell.notes.some((n) => n.title === 'Access expires in 1 h' && n.requestId === r.id));
  const warning = alice.shell.notes.find((n) => n.title === 'Access expires in 1 h' && n.requestId === r.id)!;
  assert.deepEqual(warning.actions.map((a) => a.label), ['Extend', 'Revoke now']);
  assert.match(warning.key, new RegExp(`^warn:${r.id}:\\d+:3600000$`));
  assert.match(warning.body, /^app · read lapses at \d\d:\d\d UTC$/);

  await alice.c.onNotificationAction(warning, 'extend');
  await until('extended in the menu', () => /^app · read — 1 h 59 min left$/.test(alice.shell.item(`active:${r.id}`)?.label ?? ''));
  await alice.c.onNotificationAction(warning, 'revoke');
  await until('gone from the menu', () => !alice.shell.item(`active:${r.id}`));
  const after = await alice.c.call('lapse:call:getRequest', [r.id]) as { status: string; extensions: number };
  assert.equal(after.extensions, 1);
  assert.match(after.status, /^(revoking|revoked)$/);
  await alice.c.onNotificationAction(warning, 'click');
  assert.deepEqual(alice.shell.opened.at(-1), ['my-access', { requestId: r.id }]);
});

test('Extend on a flow that requires a justification opens the extend window (no 422); on Linux a click on the warning opens it too', async () => {
  server ??= await startTestServer();
  const alice = await controllerFor('alice', undefined, 'linux');
  const bob = await controllerFor('bob');
  const created = await alice.c.call('lapse:call:createRequest', [{ flowId: 'demo-approval', entitlements: [usersWrite], justification: 'incident 12' }]) as { id: string };
  await bob.c.call('lapse:call:approve', [created.id, 'ok']);
  await until('active in the menu', () => alice.shell.item(`active:${created.id}:extend`)?.enabled);
  const extend = alice.shell.item(`active:${created.id}:extend`)!;
  assert.deepEqual(extend.action, { kind: 'open-extend', requestId: created.id });
  assert.match(extend.label, /^Extend by .+…$/);
  await alice.c.runAction(extend.action!);
  assert.deepEqual(alice.shell.opened.at(-1), ['my-access', { extendRequestId: created.id }]);
  // The expiry warning's Extend and, on Linux (no buttons), its click: the same window.
  const expiresAt = Date.now() + 60_000;
  const warning: PlannedNotification = { key: `warn:${created.id}:${expiresAt}:60000`, title: 'Access expires in 1 min', body: '', actions: [{ action: 'extend', label: 'Extend' }, { action: 'revoke', label: 'Revoke now' }], onClick: { view: 'my-access', requestId: created.id }, requestId: created.id };
  await alice.c.onNotificationAction(warning, 'extend');
  await alice.c.onNotificationAction(warning, 'click');
  assert.deepEqual(alice.shell.opened.slice(-2), [['my-access', { extendRequestId: created.id }], ['my-access', { extendRequestId: created.id }]]);
  assert.ok(!alice.shell.notes.some((n) => n.title === 'Lapse could not do that'), 'no failure shown (the server was not asked without a justification)');
  const after = await alice.c.call('lapse:call:getRequest', [created.id]) as { extensions: number; pendingExtension: unknown };
  assert.equal(after.extensions, 0);
  assert.equal(after.pendingExtension, null);
  await alice.c.call('lapse:call:revoke', [created.id]);
});

test('the tray warns at the server\'s offsets from `me` (a server warning at 30m and 5m): not at 10 and 1 minutes, and the server\'s own event for a moment is not a second warning', async () => {
  const configDir = mkdtempSync(join(tmpdir(), 'lapse-ctl-'));
  dirs.push(configDir);
  const configPath = join(configDir, 'lapse.yaml');
  const example = readFileSync(EXAMPLE, 'utf8');
  assert.match(example, /^  expiryWarnings: \[10m, 1m\]$/m);
  writeFileSync(configPath, example.replace(/^  expiryWarnings: \[10m, 1m\]$/m, '  expiryWarnings: [30m, 5m]'));
  const own = await startTestServer({ configPath });
  dirs.push(own.dir);
  const cwd = mkdtempSync(join(tmpdir(), 'lapse-ctl-'));
  dirs.push(cwd);
  const settings = new SettingsStore(new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }));
  settings.update({ serverUrl: own.svc.url });
  assert.deepEqual(settings.get().extraReminderMinutes, [], 'no extra reminders');
  const ownVault = memoryVault();
  ownVault.set(own.svc.url, own.tokens.alice);
  const shell = new RecordingShell();
  // The tray's clock is moved by hand; the server's is the real one (its own warnings are an hour away).
  const clock = new ManualClock(Date.now());
  const c = new Controller({ settings, vault: ownVault, shell, clock, timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) }, startEmbedded: () => Promise.reject(new Error('no')), debounceMs: 10 });
  controllers.push(c);
  try {
    await c.connect();
    await until('online', () => c.connectionState.state === 'online' && shell.item('flow:demo-auto'));
    assert.deepEqual((await c.call('lapse:call:me', []) as { expiryWarnings: string[] }).expiryWarnings, ['30m', '5m']);

    const r = await c.call('lapse:call:createRequest', [{ flowId: 'demo-auto', entitlements: [appRead] }]) as { id: string };
    await until('active in the menu', () => shell.item(`active:${r.id}`));
    const expiresAt = Date.parse((await c.call('lapse:call:getRequest', [r.id]) as { expiresAt: string }).expiresAt);
    const warnings = () => shell.notes.filter((n) => n.title.startsWith('Access expires in ')).map((n) => n.title.replace('Access expires in ', ''));
    /** Moves the tray's clock to `left` before the expiry, reads again (which plans again) and lets any warning due come. */
    const at = async (left: number) => {
      clock.set(expiresAt - left);
      await c.refresh();
      await new Promise((res) => setTimeout(res, 100));
    };

    await at(31 * 60_000);
    assert.deepEqual(warnings(), []);
    await at(30 * 60_000 - 1000);
    await until('the 30-minute warning', () => warnings().length === 1);
    assert.deepEqual(warnings(), ['30 min']);
    c.render();
    assert.equal(shell.icon, 'expiring', 'within the server\'s first warning');
    await at(10 * 60_000 - 1000);
    assert.deepEqual(warnings(), ['30 min'], 'nothing 10 minutes before');
    await at(5 * 60_000 - 1000);
    await until('the 5-minute warning', () => warnings().length === 2);
    const five = shell.notes.find((n) => n.title === 'Access expires in 5 min')!;
    assert.match(five.key, new RegExp(`^warn:${r.id}:${expiresAt}:300000$`));
    // The server's event for the same moment, as its expiry job sends it: shown already.
    own.svc.events.publish({ id: `${r.id}:9:request.expiring:warn-300000`, type: 'request.expiring', at: Date.now(), requestId: r.id, audience: ['alice'], data: { status: 'active', requester: 'alice', flowId: 'demo-auto', expiresAt, warningOffsetMs: 300_000, msLeft: 299_000 } });
    await until('the event handled', () => settings.get().notificationState.lastEventId === `${r.id}:9:request.expiring:warn-300000`);
    await at(60_000 - 1000);
    assert.deepEqual(warnings(), ['30 min', '5 min'], 'nothing 1 minute before, and the 5-minute warning once');
  } finally {
    await c.stop();
    await own.svc.stop();
  }
});

test('an admin\'s tray lists the revocations that keep failing, with the attempts and the last error; a requester\'s does not', async () => {
  const configDir = mkdtempSync(join(tmpdir(), 'lapse-ctl-'));
  dirs.push(configDir);
  const configPath = join(configDir, 'lapse.yaml');
  const faults = join(configDir, 'faults.json');
  writeFileSync(faults, '{}');
  const example = readFileSync(EXAMPLE, 'utf8');
  assert.match(example, /^    type: demo\n    name: Demo\n    owner: \{ group: sre-leads \}\n    connection: \{\}$/m);
  writeFileSync(configPath, example.replace(/^(    type: demo\n    name: Demo\n    owner: \{ group: sre-leads \}\n)    connection: \{\}$/m, `$1    connection: { faultsFile: ${JSON.stringify(faults)} }`));
  const own = await startTestServer({ configPath });
  dirs.push(own.dir);
  const trayOf = async (user: 'alice' | 'carol') => {
    const cwd = mkdtempSync(join(tmpdir(), 'lapse-ctl-'));
    dirs.push(cwd);
    const settings = new SettingsStore(new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }));
    settings.update({ serverUrl: own.svc.url });
    const v = memoryVault();
    v.set(own.svc.url, own.tokens[user]);
    const shell = new RecordingShell();
    const c = new Controller({ settings, vault: v, shell, clock: systemClock, timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) }, startEmbedded: () => Promise.reject(new Error('no')), debounceMs: 10 });
    controllers.push(c);
    await c.connect();
    await until(`${user} online`, () => c.connectionState.state === 'online' && shell.renders > 0);
    return { c, shell };
  };
  try {
    const alice = await trayOf('alice');
    const carol = await trayOf('carol');
    const r = await alice.c.call('lapse:call:createRequest', [{ flowId: 'demo-auto', entitlements: [appRead] }]) as { id: string };
    await until('active', () => alice.shell.item(`active:${r.id}`));
    writeFileSync(faults, JSON.stringify({ revoke: 'the demo target is down' }));
    await alice.c.call('lapse:call:revoke', [r.id]);
    // The failed attempt's event (request.revoke_failed, sent to admins) has the admin's menu read again.
    await until('the stuck revocation in carol\'s menu', () => carol.shell.item(`stuck:${r.id}`));
    assert.equal(carol.shell.item('stuck')!.label, 'Stuck revocations (1)');
    assert.match(carol.shell.item(`stuck:${r.id}`)!.label, /^alice · app · read — \d+ failed attempts?$/);
    assert.match(carol.shell.item(`stuck:${r.id}`)!.toolTip ?? '', /the demo target is down/);
    await alice.c.refresh();
    assert.ok(!alice.shell.item('stuck'), 'not an admin');
  } finally {
    writeFileSync(faults, '{}');
    await own.svc.stop();
  }
});

test('offline: the menu says why while the server is down, and the app reconnects when it is back', async () => {
  const own = await startTestServer();
  const port = own.svc.port;
  const cwd = mkdtempSync(join(tmpdir(), 'lapse-ctl-'));
  dirs.push(cwd);
  const settings = new SettingsStore(new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }));
  settings.update({ serverUrl: own.svc.url });
  const ownVault = memoryVault();
  ownVault.set(own.svc.url, own.tokens.alice);
  const shell = new RecordingShell();
  const c = new Controller({ settings, vault: ownVault, shell, clock: systemClock, timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) }, startEmbedded: () => Promise.reject(new Error('no')), debounceMs: 50 });
  controllers.push(c);
  await c.connect();
  await until('online', () => c.connectionState.state === 'online' && shell.item('flow:demo-auto'));

  await own.svc.stop();
  await until('offline in the menu', () => shell.item('status')?.label.startsWith('Offline — '));
  assert.equal(shell.item('reconnect')!.enabled, true);
  assert.equal(shell.item('flow:demo-auto:demo/database:app#read')!.enabled, false, 'nothing to request while offline');

  const { startService } = await import('../../backend/src/service.ts');
  const { silentLogger } = await import('../../backend/src/logger.ts');
  const back = await startService({ configPath: (await import('../../backend/src/api/api-test-support.ts')).EXAMPLE, dataDir: own.dir, port, logger: silentLogger, env: {} });
  try {
    await until('online again', () => c.connectionState.state === 'online', 20_000);
    await until('the menu without the offline items', () => !shell.item('status') && shell.item('flow:demo-auto:demo/database:app#read')?.enabled);
  } finally {
    await c.stop();
    await back.stop();
  }
});

test('a token the server refuses: the menu says to sign in again from Settings', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lapse-ctl-'));
  dirs.push(cwd);
  const settings = new SettingsStore(new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }));
  settings.update({ serverUrl: server.svc.url });
  const ownVault = memoryVault();
  ownVault.set(server.svc.url, 'lapse_ended0000_not-a-token-any-more');
  const shell = new RecordingShell();
  const c = new Controller({ settings, vault: ownVault, shell, clock: systemClock, timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) }, startEmbedded: () => Promise.reject(new Error('no')), debounceMs: 50 });
  controllers.push(c);
  await c.connect();
  await until('offline in the menu', () => shell.item('status')?.label.startsWith('Offline — '));
  // Both `me` and the events stream are refused (401); neither says anything else.
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(c.connectionState, { state: 'offline', detail: 'Your sign-in has ended: sign in again from Settings' });
  assert.equal(shell.item('status')!.label, 'Offline — Your sign-in has ended: sign in again from Settings');
  await c.stop();
});

test('embedded mode: the backend starts in process; no keychain service is reported before any token is typed', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lapse-ctl-'));
  dirs.push(cwd);
  const settings = new SettingsStore(new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }));
  assert.equal(settings.get().embedded, true, 'the default');
  const { startEmbedded } = await import('./embedded.ts');
  const { EXAMPLE } = await import('../../backend/src/api/api-test-support.ts');
  const { silentLogger } = await import('../../backend/src/logger.ts');
  const broken = new TokenVault(() => {
    throw new Error('Platform failure: no Secret Service');
  });
  const shell = new RecordingShell();
  const c = new Controller({
    settings, vault: broken, shell, clock: systemClock, timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    // As if two revokes had fallen due while the app was closed.
    startEmbedded: async () => Object.assign(await startEmbedded({ dir: join(cwd, 'embedded'), exampleConfigPath: EXAMPLE, osUser: 'Jane.Doe', logger: silentLogger }), { overdueRevokes: 2 }), debounceMs: 50,
  });
  controllers.push(c);
  await c.connect();
  await until('online', () => c.connectionState.state === 'online' && shell.item('flow:demo-auto'));
  assert.equal((await c.call('lapse:call:me', []) as { id: string }).id, 'jane.doe');
  const s = await c.call('lapse:call:getSettings', []) as { embedded: boolean; keychainProblem: string | null; hasToken: boolean };
  assert.equal(s.embedded, true);
  assert.equal(s.hasToken, false);
  assert.match(s.keychainProblem ?? '', /^No keychain service is available to keep the token \(Platform failure: no Secret Service\)/);
  // The revokes run at start are told once, and said first in the menu.
  assert.deepEqual(shell.notes.map((n) => n.body), ['2 revokes that fell due while Lapse was closed were run']);
  assert.equal(shell.menu[0]?.type === 'item' && shell.menu[0].label, '2 revokes that fell due while Lapse was closed were run');
  // Quitting with nothing active: nothing to say. With access active: it stays until the app runs again; "Revoke now" ends it.
  assert.equal(c.quitNotice(), null);
  const r = await c.call('lapse:call:createRequest', [{ flowId: 'demo-auto', entitlements: [appRead] }]) as { id: string };
  await until('active in the menu', () => shell.item(`active:${r.id}`));
  const notice = c.quitNotice()!;
  assert.equal(notice.message, 'You still have active access.');
  assert.match(notice.detail, /access is revoked on time only while the app runs/);
  assert.deepEqual(notice.revoke, [r.id]);
  assert.deepEqual(await c.revokeNow(notice.revoke), []);
  assert.match((await c.call('lapse:call:getRequest', [r.id]) as { status: string }).status, /^(revoking|revoked)$/);
  // An admin with no revocation failing: no stuck revocations in the menu.
  assert.ok(!shell.item('stuck'));
  await c.stop();
});
