// `lapse watch` for real: the bin in a D-Bus session with a notification server (dunst on
// a virtual X display), against a real server; dbus-monitor records the Notify calls.
// Needs the Debian packages dbus, dunst, libnotify-bin (notify-send) and xvfb (.ci/run
// installs them): dunst cannot start without a display.
// The others run watch() in this process: the state file across a restart, and the inbox
// and active access it prints at start and again when the server cannot replay.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, usersWrite, type TestServer } from '../api/api-test-support.ts';
import { ApiClient } from './client.ts';
import { watch } from './watch.ts';
import type { PlannedNotification } from '../../../common/notifications.ts';

const REPO = new URL('../../..', import.meta.url).pathname;
const BIN = join(REPO, 'backend/bin/lapse.js');
const dir = mkdtempSync(join(tmpdir(), 'lapse-watch-'));
let server: TestServer | undefined;
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.pid) try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
  await server?.svc.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, get: () => T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The (title, body) of every org.freedesktop.Notifications.Notify call in a dbus-monitor log. */
function notifyCalls(log: string): { title: string; body: string }[] {
  const out: { title: string; body: string }[] = [];
  for (const block of log.split(/^(?=method call|signal|method return|error)/m)) {
    if (!/member=Notify\b/.test(block) || !block.startsWith('method call')) continue;
    // Arguments: app_name, replaces_id, app_icon, summary, body, ...
    const strings = [...block.matchAll(/^\s+string "((?:[^"\\]|\\.)*)"/gm)].map((m) => m[1]!);
    out.push({ title: strings[2] ?? '', body: strings[3] ?? '' });
  }
  return out;
}

async function aliceRequestsAndBobApproves(s: TestServer, reason: string): Promise<string> {
  const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'incident 7' });
  assert.equal(created.status, 201, created.text);
  const approved = await s.as('bob', 'POST', `/api/v1/requests/${created.body.id}/approve`, { reason });
  assert.equal(approved.status, 200, approved.text);
  return created.body.id as string;
}

test('lapse watch shows "Request approved" with the approver’s reason as a desktop notification over D-Bus', async () => {
  server = await startTestServer();
  const monitorLog = join(dir, 'monitor.log');
  const script = [
    `dbus-monitor "type='method_call',interface='org.freedesktop.Notifications',member='Notify'" > "${monitorLog}" 2>/dev/null &`,
    `dunst > "${join(dir, 'dunst.log')}" 2>&1 &`,
    `exec "${process.execPath}" "${BIN}" watch --url "${server.svc.url}" --token "${server.tokens.alice}" --state "${join(dir, 'bin-state.json')}"`,
  ].join('\n');
  const child = spawn('xvfb-run', ['-a', 'dbus-run-session', '--', 'sh', '-c', script], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await until(`lapse watch online (output: ${out})`, () => /watching http/.test(out));

  await aliceRequestsAndBobApproves(server, 'go ahead, incident 7');
  const calls = await until('the Notify calls', () => {
    const c = existsSync(monitorLog) ? notifyCalls(readFileSync(monitorLog, 'utf8')) : [];
    return c.length >= 2 && c;
  });
  assert.deepEqual(calls.slice(0, 2), [
    { title: 'Request approved', body: 'app/users · write — approved by bob: go ahead, incident 7' },
    { title: 'Access granted', body: 'app/users · write — active for 1 h' },
  ]);
  assert.match(out, /Request approved — app\/users · write — approved by bob/);
  process.kill(-child.pid!, 'SIGTERM');
});

test('after a restart the same event, sent again, is not shown again (state file)', async () => {
  server ??= await startTestServer();
  const s = server;
  const api = new ApiClient(s.svc.url, s.tokens.alice);
  const stateFile = join(dir, 'state', 'watch.json');
  const shown: PlannedNotification[] = [];
  const lines: string[] = [];
  const run = () => {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const done = watch({ api, token: s.tokens.alice, stateFile, notify: async (n) => void shown.push(n), out: (l) => lines.push(l), stop: stopped });
    return { stop, done };
  };

  const first = run();
  await until('online', () => s.svc.events.size >= 1 && lines.some((l) => l.startsWith('watching')));
  const captured: import('../engine/events.ts').LapseEvent[] = [];
  const unsubscribe = s.svc.events.subscribe((e) => captured.push(e));
  const id = await aliceRequestsAndBobApproves(s, 'fine');
  unsubscribe();
  await until('two notifications', () => shown.length >= 2);
  first.stop();
  await first.done;
  const state = JSON.parse(readFileSync(stateFile, 'utf8'));
  assert.ok(state.keys.includes(captured.find((e) => e.type === 'request.approved')!.id), 'the approval is recorded as shown');
  assert.equal(state.lastEventId, captured.at(-1)!.id);

  lines.length = 0;
  const second = run();
  await until('online again', () => lines.some((l) => l.startsWith('watching')));
  // The server sends the approval again (as a replay after a reconnect would), then a new event.
  for (const e of captured) s.svc.events.publish(e);
  const revoked = await s.as('carol', 'POST', `/api/v1/requests/${id}/revoke`, { reason: 'audit' });
  assert.equal(revoked.status, 200, revoked.text);
  await until('the revoke notification', () => shown.some((n) => n.title === 'Access revoked'));
  second.stop();
  await second.done;
  assert.deepEqual(shown.map((n) => n.title), ['Request approved', 'Access granted', 'Access revoked']);
});

test('at start it prints the inbox and the active access; a state the server cannot resume from prints them again', async () => {
  server ??= await startTestServer();
  const s = server;
  const pending = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'incident 8' });
  assert.equal(pending.status, 201, pending.text);
  const active = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'analytics', permission: 'read' }], duration: '30m' });
  assert.equal(active.status, 201, active.text);
  assert.equal(active.body.status, 'active', active.text);

  const run = (user: 'alice' | 'bob', stateFile: string) => {
    const lines: string[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const done = watch({ api: new ApiClient(s.svc.url, s.tokens[user]), token: s.tokens[user], stateFile, notify: async () => undefined, out: (l) => lines.push(l), stop: stopped });
    return { lines, stop, done };
  };

  // bob decides alice's request: it waits in his inbox; he holds no access.
  const bob = run('bob', join(dir, 'state-bob.json'));
  await until('bob online', () => bob.lines.some((l) => l.startsWith('watching')));
  bob.stop();
  await bob.done;
  const inbox = bob.lines.slice(0, bob.lines.findIndex((l) => l.startsWith('your active access')));
  assert.equal(inbox[0], 'waiting for your decision: 1');
  assert.match(inbox[1]!, new RegExp(`^  ${pending.body.id}  alice: app/users · write for 1h — incident 8$`));
  assert.ok(bob.lines.includes('your active access: none'), bob.lines.join('\n'));
  assert.ok(bob.lines.indexOf('your active access: none') < bob.lines.findIndex((l) => l.startsWith('watching')), 'printed before following');

  // alice has nothing to decide and holds the read access (the example's on-call flow may
  // give her more, depending on the time of day); her state file names an event long gone.
  const aliceState = join(dir, 'state-alice.json');
  writeFileSync(aliceState, JSON.stringify({ keys: [], lastEventId: 'gone:1:request.created' }));
  const alice = run('alice', aliceState);
  await until('the reload', () => alice.lines.includes('some events could not be replayed; as things are now:'));
  await until('the state again', () => alice.lines.filter((l) => l.startsWith('your active access')).length === 2);
  alice.stop();
  await alice.done;
  assert.equal(alice.lines[0], 'waiting for your decision: nothing');
  assert.match(alice.lines[1]!, /^your active access: \d+$/);
  assert.ok(alice.lines.some((l) => new RegExp(`^  ${active.body.id}  analytics · read — ends in (29|30) min$`).test(l)), alice.lines.join('\n'));
  const again = alice.lines.indexOf('some events could not be replayed; as things are now:');
  assert.equal(alice.lines[again + 1], 'waiting for your decision: nothing');
});
