// `lapse mfa` against a real server: dave sets up a factor, confirms it with a code computed
// from the secret it printed, and sees it on; bob may not reset it, carol (admin) does; dave
// removes a pending one himself. The help lists the verbs.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startTestServer, type TestServer, type User } from '../api/api-test-support.ts';
import { base32Decode, totpAt } from '../auth/totp.ts';
import { ApiError } from './client.ts';
import { main } from './main.ts';

let s: TestServer;
before(async () => { s = await startTestServer(); });
after(async () => {
  await s.svc.stop();
  rmSync(s.dir, { recursive: true, force: true });
});

/** Runs `lapse ARGS` as `user`: its exit code and the lines it printed. */
async function lapse(user: User, ...args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await main([...args, '--url', s.svc.url, '--token', s.tokens[user]], (l) => lines.push(l));
  return { code, lines };
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    return err;
  }
  return assert.fail('expected a refusal');
}

test('lapse --help lists the mfa verbs', async () => {
  const lines: string[] = [];
  assert.equal(await main(['--help'], (l) => lines.push(l)), 0);
  const help = lines.join('\n');
  for (const verb of ['lapse mfa [status]', 'lapse mfa setup', 'lapse mfa confirm CODE', 'lapse mfa reset --mfa CODE', 'lapse mfa reset USER']) assert.ok(help.includes(verb), verb);
});

test('lapse mfa: setup prints the secret once, confirm takes a code from it, status shows it on; only an admin resets someone else\'s', async () => {
  assert.match((await lapse('dave', 'mfa')).lines[0]!, /^two-factor authentication: not set up/);
  const setup = await lapse('dave', 'mfa', 'setup');
  assert.equal(setup.code, 0);
  const secret = /secret: ([A-Z2-7]{32})$/.exec(setup.lines.find((l) => l.includes('secret: '))!)![1]!;
  assert.ok(setup.lines.some((l) => l.includes(`otpauth://totp/Lapse:dave?secret=${secret}&issuer=Lapse`)));
  assert.match((await lapse('dave', 'mfa', 'status')).lines[0]!, /waiting for a code/);

  const code = totpAt(base32Decode(secret), Math.floor(Date.now() / 30_000));
  const wrong = await refusal(lapse('dave', 'mfa', 'confirm', code === '000000' ? '111111' : '000000'));
  assert.equal(wrong.status, 422);
  assert.equal(wrong.field, 'code');
  assert.equal((await refusal(lapse('dave', 'mfa', 'confirm', 'abc'))).status, 400);
  assert.match((await lapse('dave', 'mfa', 'confirm', code)).lines[0]!, /two-factor authentication: on/);
  const status = await lapse('dave', 'mfa', 'status', '--json');
  const parsed = JSON.parse(status.lines.join('\n')) as { status: string; confirmedAt: string };
  assert.equal(parsed.status, 'enrolled');
  assert.ok(!status.lines.join('\n').includes(secret), 'the status never shows the secret');

  const denied = await refusal(lapse('bob', 'mfa', 'reset', 'dave'));
  assert.equal(denied.status, 403);
  assert.equal((await refusal(lapse('bob', 'mfa', 'reset', 'nobody'))).message, denied.message, 'the same refusal whoever is named');
  assert.match((await lapse('carol', 'mfa', 'reset', 'dave')).lines[0]!, /the MFA factor of dave is reset/);
  assert.equal((await refusal(lapse('carol', 'mfa', 'reset', 'dave'))).status, 404);
  assert.match((await lapse('dave', 'mfa')).lines[0]!, /not set up/);

  // A pending one is removed without a code; a confirmed one asks for it.
  await lapse('dave', 'mfa', 'setup');
  assert.match((await lapse('dave', 'mfa', 'reset')).lines[0]!, /your MFA factor is removed/);
  assert.equal((await refusal(lapse('dave', 'mfa', 'reset'))).status, 404);
  await assert.rejects(lapse('dave', 'mfa', 'confirm'), /CODE is required/);
  await assert.rejects(lapse('dave', 'mfa', 'frobnicate'), /expected: lapse mfa/);
});
