// The desktop app's half of the API against a real server, for two-factor authentication: main
// calls the server with the token the renderer never sees; a refusal reaches the renderer as
// plain problem data with the field at fault, and the code to remove a factor travels in the
// DELETE's body.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startTestServer, type TestServer } from '../../backend/src/api/api-test-support.ts';
import { base32Decode, totpAt } from '../../backend/src/auth/totp.ts';
import { CallError, createServerApi } from './server-api.ts';

let s: TestServer;
before(async () => { s = await startTestServer(); });
after(async () => {
  await s.svc.stop();
  rmSync(s.dir, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<CallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CallError, String(err));
    return err;
  }
  return assert.fail('expected a refusal');
}

test('two-factor authentication: set up, confirmed with a code, removed with a later one; refusals name the field', async () => {
  const api = createServerApi(s.svc.url, s.tokens.dave);
  assert.deepEqual(await api.mfaStatus(), { status: 'none', startedAt: null, confirmedAt: null });
  const started = await api.startMfaEnrolment();
  assert.equal(started.status, 'pending');
  const code = (step: number) => totpAt(base32Decode(started.secret), step);
  const step = Math.floor(Date.now() / 30_000);
  assert.equal((await api.confirmMfaEnrolment(code(step))).status, 'enrolled');
  const noCode = await refusal(api.removeMfa());
  assert.deepEqual([noCode.data.status, noCode.data.field], [422, 'code']);
  const used = await refusal(api.removeMfa(code(step)));
  assert.match(used.data.detail, /used already/);
  await api.removeMfa(code(step + 1));
  assert.equal((await api.mfaStatus()).status, 'none');
});
