// End to end in real Chromium, the portal's admin and approver views against a real started
// backend: bob, an approver, sees in Active access only what he approved and revokes it;
// dave, a requester, is not offered the view; carol, the admin, presses the panic button
// (its preview counts what it will end, a reason is required and she types the count before
// it runs); a revoke that a webhook target refuses with 503 is listed under Stuck
// revocations, retried from there once the target recovers, and another marked canceled
// with a reason. Screenshots of each view go to test-artifacts/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright';
import { EXAMPLE, startTestServer, type TestServer, type User } from '../../backend/src/api/api-test-support.ts';
import { buildRenderer } from '../build.ts';
import { CHROMIUM, CHROMIUM_ARGS, signInWithToken, unnamedControls } from './chromium.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const WAIT = 10_000;
const HOOK_SECRET = 'admin-views-hook-secret-0123456789';

let server: TestServer;
let browser: Browser;
let hook: Server;
/** Request ids whose calls the webhook target answers with 503 (the target is "down" for them). */
const refusing = new Set<string>();
const contexts: BrowserContext[] = [];
const configDir = mkdtempSync(join(tmpdir(), 'lapse-admin-views-'));

/** The example configuration with a webhook integration (`hook`) and a flow on it labelled `hook`. */
function configWith(hookUrl: string): string {
  return readFileSync(EXAMPLE, 'utf8')
    .replace('\nbundles:', `
  - id: hook
    type: webhook
    connection: { url: "${hookUrl}", secretEnv: LAPSE_TEST_HOOK_SECRET }
    resourceTypes: { service: { permissions: [use] } }
    resources: [ { type: service, name: billing } ]

bundles:`)
    .concat(`
  - id: hook-use
    name: Use billing
    requesters: { conditions: [ { attribute: group, value: engineering } ] }
    targets:
      - { integration: hook, resourceType: service, resources: any, permissions: [use] }
    grantFor: 1h
    approval: automatic
    settings: { labels: [hook] }
`);
}

const signIn = (user: User): Promise<Page> => signInWithToken(browser, server.svc.url, server.tokens[user], {
  options: { colorScheme: 'light', viewport: { width: 1200, height: 900 } }, timeoutMs: WAIT, contexts,
});

const visible = (l: Locator) => l.waitFor({ state: 'visible', timeout: WAIT });
const hidden = (l: Locator) => l.waitFor({ state: 'hidden', timeout: WAIT });
const row = (page: Page, id: string) => page.locator(`tr[data-request-id="${id}"]`);

async function create(user: User, body: Record<string, unknown>): Promise<string> {
  const res = await server.as(user, 'POST', '/api/v1/requests', body);
  assert.equal(res.status, 201, res.text);
  return res.body.id as string;
}

async function statusOf(id: string): Promise<string> {
  return (await server.svc.store.getRequest(id))!.status;
}

async function until(what: string, check: () => Promise<boolean>, ms = WAIT): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const hookEnt = { integration: 'hook', resourceType: 'service', resource: 'billing', permission: 'use' };
const demoRead = (db: string) => ({ integration: 'demo', resourceType: 'database', resource: db, permission: 'read' });

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; or set LAPSE_CHROMIUM)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { requestId: string };
      if (refusing.has(body.requestId)) res.writeHead(503).end('target down for maintenance');
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const configPath = join(configDir, 'lapse.yaml');
  writeFileSync(configPath, configWith(`http://127.0.0.1:${(hook.address() as { port: number }).port}/hook`));
  const [, srv, b] = await Promise.all([
    buildRenderer(),
    // A failed revoke is tried again only after a minute: within a test, only "Retry now" retries it.
    startTestServer({ configPath, env: { LAPSE_TEST_HOOK_SECRET: HOOK_SECRET }, revokeBackoff: { baseMs: 60_000, capMs: 60_000 } }),
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
  ]);
  server = srv;
  browser = b;
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await server?.svc.stop();
  hook?.closeAllConnections();
  hook?.close();
  if (server) rmSync(server.dir, { recursive: true, force: true });
  rmSync(configDir, { recursive: true, force: true });
});

describe('admin and approver views in Chromium', { concurrency: false }, () => {
  test('an approver sees only what he approved under Active access and revokes it; a requester is not offered the view', async () => {
    const mine = await create('alice', { flowId: 'demo-approval', entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'app/users', permission: 'write' }], justification: 'fix order 1234' });
    const others = await create('dave', { flowId: 'demo-approval', entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'app/orders', permission: 'write' }], justification: 'fix order 99' });
    assert.equal((await server.as('bob', 'POST', `/api/v1/requests/${mine}/approve`, { reason: 'ticket OPS-7' })).status, 200);
    assert.equal((await server.as('erin', 'POST', `/api/v1/requests/${others}/approve`, { reason: 'ticket OPS-8' })).status, 200);
    await until('both active', async () => (await statusOf(mine)) === 'active' && (await statusOf(others)) === 'active');

    const bob = await signIn('bob');
    await bob.getByRole('link', { name: 'Active access' }).click();
    await visible(bob.getByText('Access you approved, which you may revoke.'));
    await visible(row(bob, mine));
    assert.equal(await row(bob, others).count(), 0, 'erin\'s approval is not bob\'s to see here');
    assert.equal(await bob.getByRole('button', { name: 'Revoke all matching…' }).count(), 0, 'no panic button for an approver');
    assert.equal(await bob.getByRole('link', { name: 'Stuck revocations' }).count(), 0);
    await bob.screenshot({ path: join(ARTIFACTS, 'active-access-approver.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(bob), []);

    await row(bob, mine).getByRole('button', { name: 'Revoke alice Write app tables' }).click();
    const dialog = bob.getByRole('dialog', { name: 'Revoke this access' });
    assert.deepEqual(await unnamedControls(bob), []);
    await dialog.getByLabel('Reason (optional)').fill('done with it');
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await visible(bob.getByRole('status').filter({ hasText: 'Revoked.' }));
    await until('alice\'s access revoked', async () => (await statusOf(mine)) === 'revoked');
    const stored = (await server.svc.store.getRequest(mine))!;
    assert.equal(stored.endedBy, 'bob');
    assert.equal(stored.endReason, 'approver');
    assert.equal(await statusOf(others), 'active', 'what bob did not approve is untouched');
    await hidden(row(bob, mine));

    const dave = await signIn('dave');
    assert.equal(await dave.getByRole('link', { name: 'Active access' }).count(), 0);
    await dave.goto(server.svc.url + '/#/active-access');
    await visible(dave.getByRole('alert').filter({ hasText: 'Active access is for admins and approvers.' }));
    assert.equal(await dave.getByRole('table').count(), 0);
    assert.equal((await server.as('erin', 'POST', `/api/v1/requests/${others}/revoke`, {})).status, 200);
  });

  test('the panic button: the preview counts what it ends, a reason is required and the admin types the count', async () => {
    const ids: string[] = [
      await create('alice', { flowId: 'demo-auto', entitlements: [demoRead('app')], duration: '30m' }),
      await create('dave', { flowId: 'demo-auto', entitlements: [demoRead('analytics')], duration: '30m' }),
      await create('alice', { flowId: 'demo-auto', entitlements: [demoRead('analytics')], duration: '30m' }),
    ];
    await until('all active', async () => (await Promise.all(ids.map(statusOf))).every((s) => s === 'active'));
    const untouched = await create('dave', { flowId: 'hook-use', entitlements: [hookEnt] });
    await until('the hook access active', async () => (await statusOf(untouched)) === 'active');

    const carol = await signIn('carol');
    await carol.getByRole('link', { name: 'Active access' }).click();
    await visible(carol.getByRole('radio', { name: 'Everyone\'s' }));
    await visible(row(carol, untouched));
    await carol.getByRole('form', { name: 'Filters' }).getByLabel('Label').fill('demo');
    await carol.getByRole('button', { name: 'Apply filters' }).click();
    await hidden(row(carol, untouched));
    for (const id of ids) await visible(row(carol, id));
    // A request made meanwhile shows up without a reload (the events stream).
    ids.push(await create('dave', { flowId: 'demo-auto', entitlements: [demoRead('app')], duration: '30m' }));
    await visible(row(carol, ids[3]!));
    await carol.screenshot({ path: join(ARTIFACTS, 'active-access-admin.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(carol), []);

    await carol.getByRole('button', { name: 'Revoke all matching…' }).click();
    const dialog = carol.getByRole('dialog', { name: 'Revoke all matching access' });
    await visible(dialog.getByText('Filter: label = demo'));
    await visible(dialog.getByTestId('preview-requests'));
    assert.equal(await dialog.getByTestId('preview-requests').textContent(), '4');
    assert.equal(await dialog.getByTestId('preview-grants').textContent(), '4');
    await visible(dialog.getByText('held by 2 people'));
    const go = dialog.getByRole('button', { name: 'Revoke all 4' });
    assert.ok(await go.isDisabled(), 'nothing runs without a reason and the count typed');
    await dialog.getByLabel('Type 4 to confirm').fill('4');
    assert.ok(await go.isDisabled(), 'the reason is mandatory');
    await dialog.getByLabel('Reason (required)').fill('incident 42: "leaked" key');
    await dialog.getByLabel('Type 4 to confirm').fill('3');
    assert.ok(await go.isDisabled(), 'the wrong count does not confirm');
    await dialog.getByLabel('Type 4 to confirm').fill('4');
    await carol.screenshot({ path: join(ARTIFACTS, 'panic-button.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(carol), []);
    await go.click();
    await visible(carol.getByRole('status').filter({ hasText: 'Revoking 4 requests.' }));
    await until('all four revoked', async () => (await Promise.all(ids.map(statusOf))).every((s) => s === 'revoked'));
    for (const id of ids) assert.equal((await server.svc.store.getRequest(id))!.endNote, 'incident 42: "leaked" key');
    assert.equal(await statusOf(untouched), 'active', 'what the filter left out is untouched');
    const audit = await server.as('carol', 'GET', '/api/v1/audit?action=admin.revoke_all');
    assert.deepEqual(audit.body.events.at(-1).data.filter, { label: 'demo' });
    assert.equal(audit.body.events.at(-1).data.matched, 4);
    assert.equal((await server.as('carol', 'POST', `/api/v1/requests/${untouched}/revoke`, {})).status, 200);
  });

  test('stuck revocations: a revoke the target refuses with 503 is retried from the view once it recovers; another is marked canceled with a reason', async () => {
    const first = await create('alice', { flowId: 'hook-use', entitlements: [hookEnt] });
    const second = await create('dave', { flowId: 'hook-use', entitlements: [hookEnt] });
    await until('both active', async () => (await statusOf(first)) === 'active' && (await statusOf(second)) === 'active');
    refusing.add(first);
    refusing.add(second);
    for (const id of [first, second]) assert.equal((await server.as('carol', 'POST', `/api/v1/requests/${id}/revoke`, { reason: 'done' })).status, 200);
    // One failed attempt each: the next try waits out a backoff of about a minute.
    const attempts = async (id: string) => (await server.svc.store.getGrants(id))[0]!.attempts;
    await until('a failed attempt each', async () => (await attempts(first)) >= 1 && (await attempts(second)) >= 1);

    const carol = await signIn('carol');
    await carol.getByRole('link', { name: 'Stuck revocations' }).click();
    for (const id of [first, second]) await visible(row(carol, id));
    await visible(row(carol, first).getByText(/503/));
    assert.equal(await row(carol, first).locator('td').nth(3).textContent(), '1');
    assert.match((await row(carol, first).locator('td').nth(5).textContent()) ?? '', /^in \d+ s$/, 'the next retry, about a minute away');
    await carol.screenshot({ path: join(ARTIFACTS, 'stuck-revocations.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(carol), []);

    // The target recovers for the first; "Retry now" runs its revoke at once.
    refusing.delete(first);
    await row(carol, first).getByRole('button', { name: 'Retry alice Use billing now' }).click();
    await visible(carol.getByRole('status').filter({ hasText: 'Retrying 1.' }));
    await until('the first revoked after the retry', async () => (await statusOf(first)) === 'revoked');
    assert.equal(await attempts(second), 1, 'the other was not retried meanwhile: the retry came from the button');
    const retried = await server.as('carol', 'GET', `/api/v1/audit?requestId=${first}&action=request.revoke_retried`);
    assert.equal(retried.body.events.length, 1);
    assert.equal(retried.body.events[0].actor, 'carol');

    // The second stays refused: carol removed it by hand and marks it canceled, with a reason.
    await hidden(row(carol, first)); // gone without a reload: the events stream said it was revoked
    await row(carol, second).getByRole('button', { name: 'Mark dave Use billing canceled' }).click();
    const dialog = carol.getByRole('dialog', { name: 'Mark revoke canceled' });
    await dialog.getByRole('button', { name: 'Mark canceled' }).click();
    await visible(dialog.getByRole('alert').filter({ hasText: 'Say why' }));
    assert.deepEqual(await unnamedControls(carol), []);
    assert.equal(await statusOf(second), 'revoking', 'nothing without a reason');
    await dialog.getByLabel('Reason (required)').fill('removed by hand in the billing console');
    await dialog.getByRole('button', { name: 'Mark canceled' }).click();
    await visible(carol.getByRole('status').filter({ hasText: 'Marked canceled: 1.' }));
    const stored = (await server.svc.store.getRequest(second))!;
    assert.equal(stored.status, 'revoke_canceled');
    assert.equal(stored.endNote, 'removed by hand in the billing console');
    await visible(carol.getByText('No revocation is stuck.'));
  });
});
