// End to end in real Chromium against a real started backend: the admins' Activity view
// (filters narrow the list, "Show more" follows the cursor, the CSV report for the current
// filters), a request's own page with its timeline (refused to another user), request again
// pre-filled, the Integrations view and the Configuration view with a refused reload.
// Screenshots of each view go to test-artifacts/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright';
import { EXAMPLE, analyticsRead, appRead, startTestServer, usersWrite, type TestServer } from '../../backend/src/api/api-test-support.ts';
import { buildRenderer } from '../build.ts';
import { CHROMIUM, CHROMIUM_ARGS, signInWithToken, unnamedControls } from './chromium.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const WAIT = 10_000;

let server: TestServer;
let browser: Browser;
let configDir: string;
let configPath: string;
let carol: Page;
let alice: Page;
let dave: Page;
const contexts: BrowserContext[] = [];
const cspViolations: string[] = [];
let revokedId = '';

const signIn = (token: string): Promise<Page> => signInWithToken(browser, server.svc.url, token, {
  options: { colorScheme: 'light', viewport: { width: 1100, height: 900 }, acceptDownloads: true }, timeoutMs: WAIT, contexts, cspViolations,
});

const visible = (l: Locator) => l.waitFor({ state: 'visible', timeout: WAIT });
const activityRows = (page: Page) => page.getByRole('table', { name: 'Activity' }).locator('tbody tr');

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; or set LAPSE_CHROMIUM)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  configDir = mkdtempSync(join(tmpdir(), 'lapse-e2e-config-'));
  configPath = join(configDir, 'lapse.yaml');
  copyFileSync(EXAMPLE, configPath);
  const [, srv, b] = await Promise.all([
    buildRenderer(),
    startTestServer({ configPath }),
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
  ]);
  server = srv;
  browser = b;
  // dave's history: enough events for more than one page of the Activity list.
  for (let i = 0; i < 14; i++) {
    const r = await server.as('dave', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [i % 2 ? appRead : analyticsRead], duration: '30m' });
    assert.equal(r.status, 201, r.text);
    assert.equal((await server.as('dave', 'POST', `/api/v1/requests/${r.body.id}/revoke`, {})).status, 200);
  }
  assert.equal((await server.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead] })).status, 201);
  // alice's request approved by bob with a reason, then revoked by bob.
  const w = await server.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'INC-21: "users" table =fix', duration: '2h' });
  assert.equal(w.status, 201, w.text);
  revokedId = w.body.id;
  assert.equal((await server.as('bob', 'POST', `/api/v1/requests/${revokedId}/approve`, { reason: 'ok for INC-21' })).status, 200);
  assert.equal((await server.as('bob', 'POST', `/api/v1/requests/${revokedId}/revoke`, { reason: 'INC-21 closed' })).status, 200);
  [carol, alice, dave] = await Promise.all([signIn(server.tokens.carol), signIn(server.tokens.alice), signIn(server.tokens.dave)]);
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await server?.svc.stop();
  if (server) rmSync(server.dir, { recursive: true, force: true });
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

describe('the admin views in Chromium', { concurrency: false }, () => {
  test('only admins see Activity, Integrations and Configuration in the navigation; a requester who opens one is told it is for admins', async () => {
    const nav = (page: Page) => page.getByRole('navigation', { name: 'Views' });
    for (const name of ['Activity', 'Integrations', 'Configuration']) {
      await visible(nav(carol).getByRole('link', { name }));
      assert.equal(await nav(alice).getByRole('link', { name }).count(), 0, `${name} is hidden from alice`);
    }
    await alice.goto(server.svc.url + '/#/activity');
    await visible(alice.getByRole('alert').filter({ hasText: 'This view is for admins.' }));
    assert.equal(await alice.getByRole('table', { name: 'Activity' }).count(), 0);
  });

  test('Activity: filters narrow the list, kept in the address; "Show more" brings the next page', async () => {
    await carol.goto(server.svc.url + '/#/activity');
    await visible(activityRows(carol).first());
    const actors = async () => activityRows(carol).locator('td:nth-child(2)').allInnerTexts();
    assert.ok((await actors()).includes('alice'));

    await carol.getByLabel('User').fill('dave');
    await carol.getByRole('button', { name: 'Apply filters' }).click();
    await carol.waitForURL(/#\/activity\?user=dave$/);
    await visible(carol.getByRole('button', { name: 'Show more' }));
    const firstPage = await activityRows(carol).count();
    assert.equal(firstPage, 50);
    await carol.getByRole('button', { name: 'Show more' }).click();
    await carol.waitForFunction((n) => document.querySelectorAll('table[aria-label="Activity"] tbody tr').length > n, firstPage);
    const seqs = await activityRows(carol).evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));
    assert.equal(new Set(seqs).size, seqs.length, 'no event twice');
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first across pages');
    const daveRequests = new Set((await server.as('carol', 'GET', '/api/v1/requests?user=dave&limit=100')).body.requests.map((r: { id: string }) => r.id));
    const rows = await activityRows(carol).evaluateAll((trs) => trs.map((tr) => [tr.children[1]!.textContent, tr.children[3]!.textContent]));
    for (const [actor, request] of rows) assert.ok(actor === 'dave' || daveRequests.has(request), `${actor} ${request} concerns dave`);

    await carol.getByLabel('Action').fill('request.revoked');
    await carol.getByRole('button', { name: 'Apply filters' }).click();
    await carol.waitForURL(/action=request\.revoked/);
    await carol.waitForFunction(() => [...document.querySelectorAll('table[aria-label="Activity"] tbody tr td:nth-child(3)')].every((td) => td.textContent === 'request.revoked'));
    assert.equal(await activityRows(carol).count(), 14);
    assert.equal(await carol.getByRole('button', { name: 'Show more' }).count(), 0);

    await carol.getByLabel('Label').fill('prod');
    await carol.getByRole('button', { name: 'Apply filters' }).click();
    await visible(carol.getByText('No activity matches these filters.'));
    await carol.getByRole('button', { name: 'Clear filters' }).click();
    await carol.waitForURL(/#\/activity$/);
    await visible(activityRows(carol).first());
  });

  test('Reports: the CSV downloaded is the report for the current filters', async () => {
    await carol.goto(server.svc.url + '/#/activity?user=alice&label=prod');
    await visible(activityRows(carol).first());
    assert.equal(await carol.getByLabel('User').inputValue(), 'alice');
    await carol.screenshot({ path: join(ARTIFACTS, 'activity.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(carol), [], 'every control of the Activity view has a name');
    const [download] = await Promise.all([carol.waitForEvent('download'), carol.getByRole('button', { name: 'Download CSV report' }).click()]);
    assert.equal(download.suggestedFilename(), 'lapse-activity.csv');
    const csv = readFileSync((await download.path())!, 'utf8');
    const [header, ...rows] = csv.trim().split('\r\n');
    assert.match(header!, /,labels,revoke_canceled_reason$/);
    assert.equal(rows.length, 1, csv);
    assert.ok(rows[0]!.startsWith(`"${revokedId}","alice","demo-approval"`), rows[0]);
    assert.ok(rows[0]!.includes('"INC-21: ""users"" table =fix"'), 'quoted as CSV');
    await visible(carol.getByRole('status').filter({ hasText: 'Report downloaded: 1 rows.' }));
  });

  test('a request\'s page: who could approve, the decision with its reason, the grant, the revoke and who did it; another user is refused', async () => {
    await alice.goto(`${server.svc.url}/#/requests?id=${revokedId}`);
    const timeline = alice.getByRole('list', { name: 'Timeline' });
    await visible(timeline);
    const text = await timeline.innerText();
    for (const line of ['Requested by alice for 2h', 'Approved by bob', 'Reason: ok for INC-21', 'Granted on demo', 'Revoke started by bob (an approver)', 'Reason: INC-21 closed', 'Revoked on demo; access ended']) {
      assert.ok(text.includes(line), `the timeline says "${line}":\n${text}`);
    }
    const approvers = await alice.getByRole('list', { name: 'Approvers' }).innerText();
    assert.match(approvers, /bob/);
    assert.match(approvers, /erin/);
    await alice.screenshot({ path: join(ARTIFACTS, 'request-page.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(alice), [], 'every control of a request\'s page has a name');

    await dave.goto(`${server.svc.url}/#/requests?id=${revokedId}`);
    await visible(dave.getByRole('alert').filter({ hasText: 'shown to its requester, its approvers and admins' }));
    assert.equal(await dave.getByRole('list', { name: 'Timeline' }).count(), 0);
  });

  test('request again: one click opens the request form pre-filled with the same flow, access, duration and justification', async () => {
    await alice.goto(`${server.svc.url}/#/requests?id=${revokedId}`);
    await alice.getByRole('button', { name: 'Request again' }).click();
    await alice.waitForURL(new RegExp(`#/request\\?again=${revokedId}$`));
    await visible(alice.getByText(`Again, as request ${revokedId}`));
    assert.equal(await alice.getByRole('radio', { name: /Write app tables/ }).isChecked(), true);
    assert.equal(await alice.getByRole('checkbox', { name: 'demo · table app/users · write' }).isChecked(), true);
    assert.equal(await alice.getByRole('checkbox', { name: 'demo · table app/orders · write' }).isChecked(), false);
    assert.equal(await alice.getByLabel('Duration').inputValue(), '2h');
    assert.equal(await alice.getByLabel('Justification (required)').inputValue(), 'INC-21: "users" table =fix');
    await alice.screenshot({ path: join(ARTIFACTS, 'request-again.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(alice), [], 'every control of the pre-filled form has a name');
    await alice.getByRole('button', { name: 'Request access' }).click();
    await alice.waitForURL(/#\/access$/);
    const mine = (await server.as('alice', 'GET', '/api/v1/requests?mine=true&flow=demo-approval&status=pending')).body.requests;
    assert.equal(mine.length, 1);
    assert.deepEqual([mine[0].duration, mine[0].justification, mine[0].entitlements], ['2h', 'INC-21: "users" table =fix', [usersWrite]]);
    // From the history too: a row that ended offers it.
    const row = alice.getByRole('table', { name: 'History' }).getByRole('row').filter({ hasText: 'Revoked by bob' });
    await visible(row.getByRole('button', { name: /again$/ }));
    assert.equal((await server.as('alice', 'POST', `/api/v1/requests/${mine[0].id}/cancel`)).status, 200);
  });

  test('Integrations: health, last check and last error; resources and discovery "declared only" for an integration that does not discover', async () => {
    await carol.goto(server.svc.url + '/#/integrations');
    const row = carol.locator('tr[data-integration="demo"]');
    await visible(row);
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[1], 'demo');
    assert.equal(cells[2], 'Healthy');
    assert.notEqual(cells[3], '');
    assert.deepEqual(cells.slice(5), ['declared only', 'declared only']);
    await carol.screenshot({ path: join(ARTIFACTS, 'integrations.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(carol), [], 'every control of the Integrations view has a name');
  });

  test('Configuration: the file in force; a reload of a broken file is refused and shows its errors; a fixed one is applied', async () => {
    await carol.goto(server.svc.url + '/#/configuration');
    const facts = carol.getByRole('definition').filter({ hasText: configPath });
    await visible(facts);
    await visible(carol.getByText('No reload since the server started.'));
    const good = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, good.replace('grantFor: 2h', 'grantFor: soon'));
    try {
      await carol.getByRole('button', { name: 'Reload now' }).click();
      const errors = carol.getByRole('list', { name: 'Errors' });
      await visible(errors);
      assert.match(await errors.innerText(), /lapse\.yaml:\d+.*grantFor/);
      await visible(carol.getByText('Refused', { exact: true }));
      assert.match(await carol.getByLabel('Last reload result').innerText(), /by carol/);
      await carol.screenshot({ path: join(ARTIFACTS, 'configuration.png'), fullPage: true });
      assert.deepEqual(await unnamedControls(carol), [], 'every control of the Configuration view has a name');
    } finally {
      writeFileSync(configPath, good);
    }
    await carol.getByRole('button', { name: 'Reload now' }).click();
    await visible(carol.getByText('Applied', { exact: true }));
    await visible(carol.getByRole('list', { name: 'What changed' }).getByText('Nothing changed.'));
  });

  test('the strict Content-Security-Policy held: no violation in any page', () => {
    assert.deepEqual(cspViolations, []);
  });
});
