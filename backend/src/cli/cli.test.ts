// The `lapse` command as a user runs it: the real bin, a real server process.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.ts';
import { currentShiftMember } from '../domain/shifts.ts';

const REPO = new URL('../../..', import.meta.url).pathname;
const BIN = join(REPO, 'backend/bin/lapse.js');
const EXAMPLE = join(REPO, 'backend/examples/lapse.yaml');
const dirs: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'lapse-cli-'));
  dirs.push(d);
  return d;
}

function lapse(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Whether alice is on the example's sre-oncall shift now. */
function aliceOnCall(): boolean {
  const parsed = parseConfig(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
  if (!parsed.ok) throw new Error('the example configuration is invalid');
  const shift = parsed.config.shifts.find((s) => s.id === 'sre-oncall')!;
  return currentShiftMember(shift, Date.now()) === 'alice';
}

async function startServer(config: string, dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [BIN, 'server', '--config', config, '--data-dir', dataDir, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${buf}`)));
  });
  return { url, child };
}

test('config check accepts the example and reports every error of a broken file with file:line:column', () => {
  const ok = lapse(['config', 'check', EXAMPLE]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /ok — 5 users, 1 integrations, 1 bundles, 5 flows/);

  const dir = tmp();
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, [
    'identities:',
    '  users:',
    '    - { id: alice, email: alice@example.com, manager: nobody }',
    'integrations:',
    '  - { id: demo, type: demo }',
    'flows:',
    '  - id: f1',
    '    grnatFor: 1h',
    '    targets: [ { integration: nope, resourceType: database, resources: any, permissions: [read] } ]',
    '    approval: automatic',
  ].join('\n'));
  const bad = lapse(['config', 'check', broken]);
  assert.equal(bad.code, 1);
  assert.match(bad.out, new RegExp(`${broken}:3:\\d+: identities\\.users\\[0\\]\\.manager: .*nobody`));
  assert.match(bad.out, new RegExp(`${broken}:8:\\d+: flows\\[0\\]\\.grnatFor: unknown key`));
  assert.match(bad.out, new RegExp(`${broken}:9:\\d+: flows\\[0\\]\\.targets\\[0\\]\\.integration: .*nope`));
  assert.match(bad.out, /3 errors/);
});

test('config schema prints the JSON Schema; unknown commands and flags are usage errors', () => {
  const schema = lapse(['config', 'schema']);
  assert.equal(schema.code, 0);
  assert.equal(JSON.parse(schema.out).$schema, 'http://json-schema.org/draft-07/schema#');
  const unknown = lapse(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command "frobnicate"|token is required/);
  const flag = lapse(['catalog', '--no-such-flag']);
  assert.equal(flag.code, 2);
  assert.match(flag.err, /no-such-flag/);
});

test('tokens made offline work against a running server; SIGHUP reloads the configuration and refuses a bad one', async () => {
  const dir = tmp();
  const config = join(dir, 'lapse.yaml');
  const original = readFileSync(EXAMPLE, 'utf8');
  writeFileSync(config, original);
  const { url, child } = await startServer(config, join(dir, 'data'));
  const alice = lapse(['token', 'create', '--user', 'alice', '--data-dir', join(dir, 'data')]).out.trim();
  assert.match(alice, /^lapse_[a-z0-9]{12}_/);
  const env = { LAPSE_URL: url, LAPSE_TOKEN: alice };

  // The on-call flow is listed for alice only while she is on shift (every other day).
  const onShiftBefore = aliceOnCall();
  const catalog = JSON.parse(lapse(['catalog', '--json'], env).out) as { flows: { id: string; available: boolean }[] };
  const onShiftAfter = aliceOnCall();
  const ids = catalog.flows.map((f) => f.id).sort();
  assert.deepEqual(ids.filter((id) => id !== 'demo-oncall'), ['demo-approval', 'demo-auto', 'demo-bundle-flow', 'demo-maintenance']);
  if (onShiftBefore === onShiftAfter) assert.equal(ids.includes('demo-oncall'), onShiftBefore);

  const tokens = JSON.parse(lapse(['token', 'list', '--json', '--user', 'alice', '--data-dir', join(dir, 'data')]).out) as { userId: string; lastUsedAt: number | null }[];
  assert.equal(tokens.length, 1);
  assert.equal(tokens[0]!.userId, 'alice');
  assert.equal(typeof tokens[0]!.lastUsedAt, 'number', 'a token used against the server records when it was last used');

  const request = lapse(['request', 'demo-auto', '--entitlement', 'demo/database:app#read', '--duration', '30m', '--json'], env);
  assert.equal(request.code, 0, request.err);
  const r = JSON.parse(request.out) as { id: string; status: string };
  assert.equal(r.status, 'active');
  const human = lapse(['status', r.id], env);
  assert.match(human.out, /status: +active/);
  assert.match(human.out, /demo\/database:app#read/);

  // A bad file: refused, the running configuration stays.
  writeFileSync(config, original.replace('id: demo-auto', 'id: demo-auto\n    grnatFor: 1h'));
  child.kill('SIGHUP');
  await new Promise((res) => setTimeout(res, 1500));
  const offered = (out: string) => (JSON.parse(out) as { flows: { id: string }[] }).flows.map((f) => f.id).filter((id) => id !== 'demo-oncall').sort();
  assert.deepEqual(offered(lapse(['catalog', '--json'], env).out), ['demo-approval', 'demo-auto', 'demo-bundle-flow', 'demo-maintenance']);

  // A good one: a new flow appears.
  writeFileSync(config, original.replace('  - id: demo-auto', '  - id: demo-extra\n    requesters: { conditions: [ { attribute: group, value: engineering } ] }\n    targets: [ { integration: demo, resourceType: database, resources: any, permissions: [write] } ]\n    approval: automatic\n\n  - id: demo-auto'));
  child.kill('SIGHUP');
  let flows: string[] = [];
  for (let i = 0; i < 40 && !flows.includes('demo-extra'); i++) {
    await new Promise((res) => setTimeout(res, 100));
    flows = (JSON.parse(lapse(['catalog', '--json'], env).out) as { flows: { id: string }[] }).flows.map((f) => f.id);
  }
  assert.ok(flows.includes('demo-extra'), `flows after reload: ${flows.join(', ')}`);

  // The server shuts down gracefully on SIGTERM, and the audit chain of its data directory verifies offline.
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((res) => child.once('exit', res));
  assert.equal(code, 0);
  const verify = lapse(['audit', 'verify', '--data-dir', join(dir, 'data')]);
  assert.equal(verify.code, 0, verify.out + verify.err);
  assert.match(verify.out, /audit chain ok: \d+ events verified/);
});

test('a client verb without a token, or against no server, says what is wrong', () => {
  const noToken = lapse(['catalog'], { LAPSE_TOKEN: '' });
  assert.equal(noToken.code, 2);
  assert.match(noToken.err, /a token is required/);
  const noServer = lapse(['catalog'], { LAPSE_TOKEN: 'lapse_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', LAPSE_URL: 'http://127.0.0.1:9' });
  assert.equal(noServer.code, 1);
  assert.match(noServer.err, /cannot reach the Lapse server at http:\/\/127\.0\.0\.1:9/);
});

test('server-provided text cannot drive the terminal: human output shows control characters escaped, --json keeps them exact', async () => {
  const dir = tmp();
  const { url } = await startServer(EXAMPLE, join(dir, 'data'));
  const tokenOf = (user: string) => lapse(['token', 'create', '--user', user, '--data-dir', join(dir, 'data')]).out.trim();
  const alice = { LAPSE_URL: url, LAPSE_TOKEN: tokenOf('alice') };
  const bob = { LAPSE_URL: url, LAPSE_TOKEN: tokenOf('bob') };

  // Clear the screen and home the cursor, return to the line start, ring the bell, a NUL,
  // a newline, an 8-bit CSI, and bidi overrides that reorder what follows.
  const justification = 'fix \x1b[2J\x1b[H order\r approved by security\x07\x00\nline two \x9b31m \u202eevil\u202c \u2066iso\u2069 end';
  const res = await fetch(new URL('/api/v1/requests', url), {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.LAPSE_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ flowId: 'demo-approval', entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'app/users', permission: 'write' }], justification }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const { id } = (await res.json()) as { id: string };

  const RAW = /[\p{Cc}\p{Bidi_Control}\u2028\u2029]/u;
  const escaped = String.raw`fix \x1b[2J\x1b[H order\r approved by security\x07\x00\nline two \x9b31m \u202eevil\u202c \u2066iso\u2069 end`;
  const assertSafe = (text: string, what: string) => {
    // The CLI's own layout newlines separate the lines; nothing else in them is a control character.
    for (const line of text.replace(/\n$/, '').split('\n')) assert.doesNotMatch(line, RAW, `${what}: ${JSON.stringify(line)}`);
  };

  // --json is the exact data: it parses back to the very same string; JSON escapes every
  // control character, so even the raw JSON holds none.
  const exact = (args: string[], env: Record<string, string>) => {
    const r = lapse(args, env);
    assert.equal(r.code, 0, r.err);
    assertSafe(r.out, args.join(' '));
    return JSON.parse(r.out) as { justification?: string; approvals?: { id: string; justification: string }[]; requests?: { id: string; justification: string }[] };
  };
  assert.equal(exact(['approvals', '--json'], bob).approvals!.find((r) => r.id === id)!.justification, justification);
  assert.equal(exact(['status', id, '--json'], alice).justification, justification);
  assert.equal(exact(['status', '--json'], alice).requests!.find((r) => r.id === id)!.justification, justification);

  const inbox = lapse(['approvals'], bob);
  assert.equal(inbox.code, 0, inbox.err);
  assertSafe(inbox.out, 'lapse approvals');
  assert.ok(inbox.out.includes(escaped), inbox.out);

  const detail = lapse(['status', id], alice);
  assert.equal(detail.code, 0, detail.err);
  assertSafe(detail.out, 'lapse status ID');
  assert.ok(detail.out.includes(`justification: ${escaped}`), detail.out);

  // A decision's reason is server-provided text too.
  const approved = lapse(['approve', id, '--reason', 'ok\x1b]0;pwned\x07'], bob);
  assert.equal(approved.code, 0, approved.err);
  assertSafe(approved.out, 'lapse approve');
  assert.ok(approved.out.includes(String.raw`approved by bob: ok\x1b]0;pwned\x07`), approved.out);

  // Errors on stderr, with the server's problem detail, go through the same escaping.
  const bad = lapse(['request', 'nope\x1b[2J\x07\u202e', '--entitlement', 'demo/database:app#read'], alice);
  assert.equal(bad.code, 1);
  assertSafe(bad.err, 'stderr');
  assert.match(bad.err, /unknown flow "nope\\x1b\[2J\\x07\\u202e"/);
});
