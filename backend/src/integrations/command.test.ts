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

test('a non-zero exit fails with the tail of stderr, without the secret; a timeout kills the process', async () => {
  const failing = script('failing.mjs', `
process.stderr.write('x'.repeat(2000) + '\\nauth with ' + process.env.LAPSE_COMMAND_SECRET + ' refused\\n');
process.exit(3);
`);
  const cmd = new CommandIntegration('cmd', { path: failing, secret: 'cmd-secret-value' });
  await assert.rejects(cmd.grant(input), (err: Error) => {
    assert.match(err.message, /^command grant \(.*failing\.mjs\) failed: exit status 3; stderr: …x+\nauth with \[redacted\] refused$/);
    assert.ok(!err.message.includes('cmd-secret-value'));
    assert.ok(err.message.length < 700);
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
