// The command integration with real executables written into the test's temporary
// directory: the request arrives as JSON on stdin and never as arguments or environment, so
// a user id or resource name that a shell would execute stays inert data.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandIntegration } from './command.ts';
import type { GrantInput } from './integration.ts';

const dir = mkdtempSync(join(tmpdir(), 'lapse-command-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An executable node script in the temporary directory. */
function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!${process.execPath}\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

// Records its argv, environment and stdin, then answers with access details.
const recorder = script('recorder.mjs', `
import { readFileSync, writeFileSync } from 'node:fs';
const stdin = readFileSync(0, 'utf8');
const req = JSON.parse(stdin);
writeFileSync(process.argv[2] + '/' + req.action + '.json', JSON.stringify({ argv: process.argv.slice(2), env: process.env, stdin }));
if (req.action === 'grant') process.stdout.write(JSON.stringify({ accessDetails: { login: 'tmp-' + req.requestId, n: 1 } }));
if (req.action === 'list') process.stdout.write(JSON.stringify({ granted: [{ user: 'alice', resourceType: 'service', resource: 'billing', permission: 'use', requestId: 'r1' }, { user: 1 }] }));
`);

const HOSTILE_USER = `alice$(touch ${join(dir, 'pwned')}); rm -rf / "\`'; \\ ü`;
const HOSTILE_RESOURCE = `billing; touch ${join(dir, 'pwned2')} | $(id)`;
const input: GrantInput = {
  requestId: 'req-1', user: { id: HOSTILE_USER, email: 'alice@example.com' },
  entitlements: [{ integration: 'cmd', resourceType: 'service', resource: HOSTILE_RESOURCE, permission: 'use' }], expiresAt: null,
};

test('grant and revoke: the request on stdin as JSON, fixed args and env, access details from stdout; hostile names stay data', async () => {
  const cmd = new CommandIntegration('cmd', { path: recorder, args: [dir], env: { REGION: 'eu' }, secret: 'cmd-secret-value', list: true }, { env: { PATH: '/usr/bin:/bin', HOME: dir, LAPSE_SECRET_KEY: 'must-not-leak' } });
  const result = await cmd.grant(input);
  assert.deepEqual(result.accessDetails, { login: 'tmp-req-1' });
  const seen = JSON.parse(readFileSync(join(dir, 'grant.json'), 'utf8')) as { argv: string[]; env: Record<string, string>; stdin: string };
  assert.deepEqual(seen.argv, [dir]);
  assert.deepEqual(JSON.parse(seen.stdin), {
    action: 'grant', integration: 'cmd', requestId: 'req-1', user: { id: HOSTILE_USER, email: 'alice@example.com' }, entitlements: input.entitlements, expiresAt: null,
  });
  const { PATH, HOME, REGION, LAPSE_COMMAND_SECRET, ...rest } = seen.env;
  assert.deepEqual({ PATH, HOME, REGION, LAPSE_COMMAND_SECRET }, { PATH: '/usr/bin:/bin', HOME: dir, REGION: 'eu', LAPSE_COMMAND_SECRET: 'cmd-secret-value' });
  assert.ok(!Object.values(rest).includes('must-not-leak'), 'Lapse\'s own environment is not handed down');
  assert.equal(existsSync(join(dir, 'pwned')) || existsSync(join(dir, 'pwned2')), false);

  await cmd.revoke({ ...input, stillCovered: [] });
  assert.equal(JSON.parse(JSON.parse(readFileSync(join(dir, 'revoke.json'), 'utf8')).stdin).action, 'revoke');
  assert.deepEqual(await cmd.listGranted(), [{ user: 'alice', requestId: 'r1', entitlement: { integration: 'cmd', resourceType: 'service', resource: 'billing', permission: 'use' } }]);
  assert.equal((await cmd.health()).ok, true);
});

test('a non-zero exit fails with the end of stderr (at most 300 characters, one line), without the secret; a timeout kills the process', async () => {
  const failing = script('failing.mjs', `
process.stderr.write('x'.repeat(2000) + '\\nauth with ' + process.env.LAPSE_COMMAND_SECRET + ' refused\\n');
process.exit(3);
`);
  const cmd = new CommandIntegration('cmd', { path: failing, secret: 'cmd-secret-value' });
  await assert.rejects(cmd.grant(input), (err: Error) => {
    assert.match(err.message, /^command grant \(.*failing\.mjs\) failed: exit status 3; stderr: …x+⏎auth with \[redacted\] refused$/);
    assert.equal(err.message.slice(err.message.indexOf('stderr: ') + 'stderr: '.length).length, 300);
    assert.ok(!err.message.includes('cmd-secret-value'));
    return true;
  });

  const slow = script('slow.mjs', `setTimeout(() => {}, 60_000);`);
  const started = Date.now();
  await assert.rejects(new CommandIntegration('cmd', { path: slow, timeoutMs: 200 }).revoke({ ...input, stillCovered: [] }), /command revoke \(.*slow\.mjs\) timed out after 200 ms and was killed/);
  assert.ok(Date.now() - started < 10_000);

  const missing = new CommandIntegration('cmd', { path: join(dir, 'nope') });
  await assert.rejects(missing.grant(input), /could not start: ENOENT/);
  assert.match((await missing.health()).error!, /is not an executable file \(ENOENT\)/);
});

/** The shapes a target may echo a secret in (computed here, independently of Lapse). */
function shapesOf(secret: string): Record<string, string> {
  const bytes = Buffer.from(secret, 'utf8');
  return {
    plain: secret, base64: bytes.toString('base64'), base64url: bytes.toString('base64url'), hex: bytes.toString('hex'),
    HEX: bytes.toString('hex').toUpperCase(), percent: encodeURIComponent(secret),
  };
}

function assertNoFragment(text: string, secret: string): void {
  for (const [name, shape] of Object.entries(shapesOf(secret))) {
    for (let i = 0; i + 8 <= shape.length; i++) {
      assert.ok(!text.includes(shape.slice(i, i + 8)), `8 characters of the ${name} shape (${shape.slice(i, i + 8)}) reached the error: ${text}`);
    }
  }
}

test('stderr that echoes the secret in another shape (encoded, split across lines) leaves none of it in the error, and the error stays short', async () => {
  const secret = 'vpn/K3y+7Qx_9Lm=2Ws';
  // Prints the secret it was given in every shape, then fails.
  const leaky = script('leaky.mjs', `
const s = process.env.LAPSE_COMMAND_SECRET;
const b = Buffer.from(s);
const lines = [
  'connecting with ' + s,
  'auth header: Basic ' + Buffer.from('lapse:' + s).toString('base64'),
  'b64=' + b.toString('base64') + ' b64url=' + b.toString('base64url'),
  'hex=' + b.toString('hex') + ' HEX=' + b.toString('hex').toUpperCase(),
  'url=https://vpn.internal/login?key=' + encodeURIComponent(s) + '&x=1',
  'wrapped: ' + s.slice(0, 8), s.slice(8) + ' <- end of key',
  'line split ' + b.toString('hex').slice(0, 20) + '\\r\\n' + b.toString('hex').slice(20),
  'fatal: access refused',
];
process.stderr.write(lines.join('\\n') + '\\n');
process.exit(1);
`);
  const cmd = new CommandIntegration('cmd', { path: leaky, secret });
  await assert.rejects(cmd.grant(input), (err: Error) => {
    assertNoFragment(err.message, secret);
    assertNoFragment(err.message.replace(/⏎/g, ''), secret);
    assert.match(err.message, /^command grant \(.*leaky\.mjs\) failed: exit status 1; stderr: .*\[redacted\].*⏎fatal: access refused$/);
    assert.ok(!err.message.includes('\n'), 'one line');
    const stderrPart = err.message.slice(err.message.indexOf('; stderr: ') + '; stderr: '.length);
    assert.ok(stderrPart.length <= 300, `bounded: ${stderrPart.length}`);
    return true;
  });

  // Much more output than is kept, the secret over and over: not even the piece of it at
  // the start of what was kept survives.
  const flood = script('flood.mjs', `process.stderr.write(process.env.LAPSE_COMMAND_SECRET.repeat(3001)); process.exit(2);`);
  await assert.rejects(new CommandIntegration('cmd', { path: flood, secret }).revoke({ ...input, stillCovered: [] }), (err: Error) => {
    assert.match(err.message, /^command revoke \(.*flood\.mjs\) failed: exit status 2; stderr: \[redacted\]$/);
    return true;
  });
});

test('with listResources, discovery asks the executable for its resources; without, the declared ones', async () => {
  const lister = script('lister.mjs', `
import { readFileSync } from 'node:fs';
const req = JSON.parse(readFileSync(0, 'utf8'));
if (req.action !== 'resources' || req.integration !== 'cmd') process.exit(3);
process.stdout.write(JSON.stringify({ resources: [
  { type: 'service', name: 'billing', tags: { tier: '1' } },
  { type: 'queue', name: 'jobs "q"', parent: 'billing', comment: 'lapse: pii=true' },
] }));
`);
  const declared = [{ type: 'service', name: 'declared', tags: {} }];
  const listing = new CommandIntegration('cmd', { path: lister, listResources: true }, { resources: declared });
  assert.equal(listing.discovers, true);
  assert.deepEqual(await listing.listResources(), [
    { type: 'service', name: 'billing', tags: { tier: '1' }, comment: null },
    { type: 'queue', name: 'jobs "q"', parent: 'billing', tags: {}, comment: 'lapse: pii=true' },
  ]);
  const plain = new CommandIntegration('cmd', { path: lister }, { resources: declared });
  assert.equal(plain.discovers, false);
  assert.deepEqual(await plain.listResources(), [{ type: 'service', name: 'declared', tags: {} }]);

  const bad = (name: string, out: string) => new CommandIntegration('cmd', { path: script(name, `process.stdout.write(${JSON.stringify(out)});`), listResources: true });
  await assert.rejects(bad('r1.mjs', 'nope').listResources(), /command resources \(.*\): stdout is not JSON/);
  await assert.rejects(bad('r2.mjs', '{"resources": 1}').listResources(), /expected \{ "resources": \[\.\.\.\] \} on stdout/);
  await assert.rejects(bad('r3.mjs', '{"resources": [{"type": "s", "name": "a/b"}]}').listResources(), /resources\[0\]\.name: expected a name without "\/"/);
  await assert.rejects(bad('r4.mjs', '{"resources": [{"type": "s", "name": "a", "tags": {"k": 1}}]}').listResources(), /resources\[0\]\.tags: expected \{ key: "value" \}/);
});
