// Discovery against the real PostgreSQL and MariaDB servers, through a TCP proxy the test can
// cut. For each of them:
// - what exists at start is offered as soon as the server listens (the first sync comes first);
// - a table created after start is refused until a sync, then offered under `any`, under
//   `tags` read from its comment (and from the tag rules), and under `parents`; a grant on it
//   works on the target, also for a table whose name is full of quotes;
// - a comment with a malformed `lapse:` line is ignored with a warning and the table still
//   offered; a name with a control character is not offered, with a warning;
// - a dropped table disappears, requesting it is refused (422, the field named), and the grant
//   on it that was active still revokes (the login is gone);
// - a sync that fails (the target cut away) keeps the inventory and the catalog, shows its
//   error in GET /api/v1/integrations and `lapse integrations`, and the next sync recovers;
// - the inventory routes: admins and approvers only (403 otherwise), filters, pages.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertProblem, startTestServer, type TestServer } from '../src/api/api-test-support.ts';
import { main } from '../src/cli/main.ts';
import {
  closeSessions, createPgDatabase, hex, MY, myAdminQuery, myCleanup, myConnect, myIdent, myUsersWithPrefix, PG, pgAdminQuery, pgCleanup, pgConnect,
  pgRolesWithPrefix, uniquePrefix,
} from '../src/integrations/sql/sql-test-support.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

const USERS = `identities:
  users:
    - { id: alice, email: alice@example.com, groups: [engineering] }
    - { id: bob, email: bob@example.com, groups: [engineering] }
    - { id: carol, email: carol@example.com, groups: [security] }
    - { id: dave, email: dave@example.com, groups: [engineering] }
    - { id: erin, email: erin@example.com, groups: [security] }
`;

/** A target: how to make and drop tables, and where tables live. */
interface Target {
  kind: 'postgresql' | 'mysql';
  /** The parent path of the test's tables. */
  parent: string;
  setup(): Promise<void>;
  createTable(name: string, comment: string | null): Promise<void>;
  dropTable(name: string): Promise<void>;
  /** Reads the table with the delivered access details. */
  readAs(details: Record<string, string>, table: string): Promise<number>;
  logins(): Promise<string[]>;
  cleanup(): Promise<void>;
  connection(proxyPort: number): string;
  upstream: { host: string; port: number };
}

function pgTarget(): Target {
  const db = `lapse_t_disc_${hex()}`;
  const prefix = uniquePrefix();
  const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
  const lit = (text: string) => `'${text.replace(/'/g, "''")}'`;
  return {
    kind: 'postgresql',
    parent: `${db}/public`,
    upstream: { host: PG.host, port: PG.port },
    setup: () => createPgDatabase(db, ['CREATE TABLE items (id int)', 'INSERT INTO items VALUES (1)']),
    async createTable(name, comment) {
      await pgAdminQuery(db, `CREATE TABLE public.${q(name)} (id int)`);
      await pgAdminQuery(db, `INSERT INTO public.${q(name)} VALUES (1), (2)`);
      if (comment !== null) await pgAdminQuery(db, `COMMENT ON TABLE public.${q(name)} IS ${lit(comment)}`);
    },
    dropTable: async (name) => void (await pgAdminQuery(db, `DROP TABLE public.${q(name)}`)),
    async readAs(details, table) {
      const c = await pgConnect(details.url!);
      try {
        return Number((await c.query(`SELECT count(*)::int AS n FROM public.${q(table)}`)).rows[0].n);
      } finally {
        await c.end();
      }
    },
    logins: () => pgRolesWithPrefix(prefix),
    cleanup: () => pgCleanup([db], prefix),
    connection: (port) => `{ host: 127.0.0.1, port: ${port}, user: ${PG.user}, database: postgres, rolePrefix: ${prefix}, discoverDatabases: [${db}] }`,
  };
}

function myTarget(): Target {
  const db = `lapse_t_disc_${hex()}`;
  const books = `lapse_t_disc_books_${hex()}`;
  const prefix = uniquePrefix();
  return {
    kind: 'mysql',
    parent: db,
    upstream: { host: MY.host, port: MY.port },
    async setup() {
      await myAdminQuery(`CREATE DATABASE ${myIdent(db)}`);
      await myAdminQuery(`CREATE TABLE ${myIdent(db)}.items (id int)`);
      await myAdminQuery(`INSERT INTO ${myIdent(db)}.items VALUES (1)`);
    },
    async createTable(name, comment) {
      await myAdminQuery(`CREATE TABLE ${myIdent(db)}.${myIdent(name)} (id int)${comment === null ? '' : ' COMMENT = ?'}`, comment === null ? [] : [comment]);
      await myAdminQuery(`INSERT INTO ${myIdent(db)}.${myIdent(name)} VALUES (1), (2)`);
    },
    dropTable: async (name) => void (await myAdminQuery(`DROP TABLE ${myIdent(db)}.${myIdent(name)}`)),
    async readAs(details, table) {
      const c = await myConnect(details, db);
      try {
        const [rows] = await c.query(`SELECT count(*) AS n FROM ${myIdent(table)}`);
        return Number((rows as { n: number }[])[0]!.n);
      } finally {
        await c.end();
      }
    },
    logins: () => myUsersWithPrefix(prefix),
    cleanup: () => myCleanup([db, books], prefix),
    connection: (port) => `{ host: 127.0.0.1, port: ${port}, user: ${MY.user}, rolePrefix: ${prefix}, bookkeepingDatabase: ${books}, discoverDatabases: [${db}] }`,
  };
}

const flow = (id: string, resources: string, approval = 'automatic') =>
  `  - { id: ${id}, targets: [ { integration: t, resourceType: table, resources: ${resources}, permissions: [read] } ], approval: ${approval}, requesters: { conditions: [ { attribute: group, value: engineering } ] }, grantFor: 1h, maxDuration: 8h }\n`;

for (const make of [pgTarget, myTarget]) {
  const target = make();
  describe(`discovery on ${target.kind}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'lapse-discovery-'));
    const configPath = join(dir, 'lapse.yaml');
    let proxy: TcpProxy;
    let s: TestServer;
    const p = target.parent;
    const table = (name: string) => ({ integration: 't', resourceType: 'table', resource: `${p}/${name}`, permission: 'read' });
    const catalog = async (flowId: string): Promise<string[]> => {
      const res = await s.as('alice', 'GET', '/api/v1/catalog');
      assert.equal(res.status, 200, res.text);
      const f = res.body.flows.find((x: { id: string }) => x.id === flowId);
      return (f?.entitlements ?? []).map((e: { resource: string }) => e.resource).sort();
    };
    const sync = async () => {
      const res = await s.as('carol', 'POST', '/api/v1/admin/resources/sync', { integration: 't' });
      assert.equal(res.status, 200, res.text);
      return res.body.results[0];
    };
    const request = (flowId: string, name: string, user: 'alice' | 'bob' | 'dave' = 'alice') => s.as(user, 'POST', '/api/v1/requests', { flowId, entitlements: [table(name)] });
    const hostile = 'we"ird\'; DROP TABLE items; --';
    const configText = (extraRule: string) => `settings: { admins: [carol], reconcileEvery: "off", discoverEvery: 10s }
${USERS}integrations:
  - id: t
    type: ${target.kind}
    connection: ${target.connection(proxy.port)}
    tagRules:
      - { parent: "${p}", tags: { zone: app } }
      - { path: "${p}/audit_*", type: table, tags: { audit: "true" } }${extraRule}
flows:
${flow('any', 'any')}${flow('pii', '{ tags: { pii: "true" } }')}${flow('under', `{ parents: ["${p}"] }`)}${flow('but-items', '{ except: [items] }')}${flow('approved', 'any', '{ mode: anyOf, groups: [ { conditions: [ { attribute: group, value: security } ] } ] }')}`;

    before(async () => {
      await target.setup();
      proxy = await startTcpProxy(target.upstream);
      writeFileSync(configPath, configText(''));
      s = await startTestServer({ configPath });
    });
    after(async () => {
      await closeSessions();
      await s?.svc.stop();
      await proxy?.close();
      await target.cleanup();
      rmSync(dir, { recursive: true, force: true });
      if (s) rmSync(s.dir, { recursive: true, force: true });
    });

    test('what exists at start is offered once the server listens; the health view shows the discovery', async () => {
      assert.deepEqual(await catalog('any'), [`${p}/items`]);
      const list = await s.as('carol', 'GET', '/api/v1/integrations');
      const t = list.body.integrations.find((i: { id: string }) => i.id === 't');
      assert.equal(t.discovery.lastError, null);
      assert.equal(t.discovery.running, false);
      assert.ok(t.discovery.resourceCount >= 2, JSON.stringify(t.discovery));
      assert.ok(Date.parse(t.discovery.lastSyncAt) > 0);
    });

    test('a table created later is refused until a sync, then offered under any, tags and parents, and granted on the target', async () => {
      await target.createTable('orders', 'Orders of the shop.\nlapse: pii=true owner="pay ments"\nKeep for 7 years.');
      await target.createTable(hostile, null);
      await target.createTable('audit_log', 'lapse: pii=true oops');

      const early = await request('any', 'orders');
      assertProblem(early, 422, 'entitlements[0]', /has no table ".*orders" \(it was never declared or discovered, or it is gone\)/);

      const result = await sync();
      assert.equal(result.status, 'synced', JSON.stringify(result));
      assert.equal(result.added, 3, JSON.stringify(result));
      assert.ok(result.warnings.some((w: string) => /audit_log.*line 1 of the comment.*expected key=value, got "oops".*ignored/.test(w)), JSON.stringify(result.warnings));

      assert.deepEqual(await catalog('any'), [`${p}/audit_log`, `${p}/items`, `${p}/orders`, `${p}/${hostile}`].sort());
      assert.deepEqual(await catalog('pii'), [`${p}/orders`], 'the malformed line gives no tags; the good one does');
      assert.deepEqual(await catalog('under'), [`${p}/audit_log`, `${p}/items`, `${p}/orders`, `${p}/${hostile}`].sort());
      assert.deepEqual(await catalog('but-items'), [`${p}/audit_log`, `${p}/orders`, `${p}/${hostile}`].sort());

      // Tags: from the comment (with a quoted value), and from the rules.
      const listed = await s.as('carol', 'GET', `/api/v1/resources?integration=t&type=table&prefix=${encodeURIComponent(p)}`);
      assert.equal(listed.status, 200, listed.text);
      const byName = new Map(listed.body.resources.map((r: { name: string }) => [r.name, r]));
      assert.deepEqual((byName.get('orders') as { tags: unknown }).tags, { zone: 'app', pii: 'true', owner: 'pay ments' });
      assert.deepEqual((byName.get('audit_log') as { tags: unknown }).tags, { zone: 'app', audit: 'true' });
      assert.equal((byName.get('orders') as { origin: string }).origin, 'discovered');
      assert.ok(Date.parse((byName.get('orders') as { firstSeenAt: string }).firstSeenAt) > 0);

      const granted = await request('pii', 'orders');
      assert.equal(granted.status, 201, granted.text);
      assert.equal(granted.body.status, 'active', granted.text);
      assert.equal(await target.readAs(granted.body.grants[0].accessDetails, 'orders'), 2);

      const odd = await request('under', hostile, 'bob');
      assert.equal(odd.body.status, 'active', odd.text);
      assert.equal(await target.readAs(odd.body.grants[0].accessDetails, hostile), 2, 'the quoted name reached the target as one identifier');
    });

    test('a name with a control character is not offered, with a warning', async () => {
      await target.createTable('bell\u0007table', null);
      const result = await sync();
      assert.equal(result.status, 'synced');
      assert.ok(result.warnings.some((w: string) => /bell\\u0007table.*is not offered: its name holds a control character/.test(w)), JSON.stringify(result.warnings));
      assert.ok(!(await catalog('any')).some((r) => r.includes('bell')));
      await target.dropTable('bell\u0007table');
    });

    test('a dropped table disappears, requesting it is refused, and the grant on it still revokes', async () => {
      const held = await request('any', 'orders', 'dave');
      assert.equal(held.body.status, 'active', held.text);
      const before = await target.logins();
      assert.ok(before.length >= 1);
      await target.dropTable('orders');
      const result = await sync();
      assert.equal(result.status, 'synced');
      assert.ok(result.removed >= 1, JSON.stringify(result));
      assert.ok(!(await catalog('any')).includes(`${p}/orders`));
      assert.deepEqual(await catalog('pii'), []);
      assertProblem(await request('any', 'orders'), 422, 'entitlements[0]', /integration "t" has no table ".*\/orders" \(it was never declared or discovered, or it is gone\)/);

      const revoked = await s.as('dave', 'POST', `/api/v1/requests/${held.body.id}/revoke`, {});
      assert.equal(revoked.status, 200, revoked.text);
      for (let i = 0; i < 200 && (await s.svc.store.getRequest(held.body.id))?.status !== 'revoked'; i++) await new Promise((r) => setTimeout(r, 25));
      const r = await s.svc.store.getRequest(held.body.id);
      const grant = (await s.svc.store.getGrants(held.body.id))[0];
      assert.equal(r?.status, 'revoked', `grant: ${grant?.status} ${grant?.lastError}`);
      assert.equal((await target.logins()).length, before.length - 1, 'the login of the revoked request is gone from the target');
    });

    test('a failing sync keeps the inventory and the catalog, shows its error, and the next one recovers', async () => {
      const offered = await catalog('any');
      proxy.cut();
      const failed = await sync();
      assert.equal(failed.status, 'failed');
      assert.ok(failed.error && failed.error.length > 0);
      assert.deepEqual(await catalog('any'), offered, 'the catalog is as it was');
      const list = await s.as('carol', 'GET', '/api/v1/integrations');
      const t = list.body.integrations.find((i: { id: string }) => i.id === 't');
      assert.equal(t.discovery.lastError, failed.error);
      assert.ok(t.discovery.resourceCount >= offered.length);
      const out: string[] = [];
      assert.equal(await main(['integrations', '--url', s.svc.url, '--token', s.tokens.carol], (l) => out.push(l)), 1);
      assert.ok(out.some((l) => l.includes('LAST SYNC FAILED')), out.join('\n'));
      const cli: string[] = [];
      assert.equal(await main(['resources', 'sync', 't', '--url', s.svc.url, '--token', s.tokens.carol], (l) => cli.push(l)), 1);
      assert.match(cli.join('\n'), /t: FAILED: .*; the inventory stays as it was/);

      proxy.restore();
      const again: string[] = [];
      assert.equal(await main(['resources', 'sync', 't', '--url', s.svc.url, '--token', s.tokens.carol], (l) => again.push(l)), 0, again.join('\n'));
      assert.match(again.join('\n'), /^t: synced, \d+ resource\(s\)/);
      const healed = (await s.as('carol', 'GET', '/api/v1/integrations')).body.integrations.find((i: { id: string }) => i.id === 't');
      assert.equal(healed.discovery.lastError, null);
    });

    test('a reload that changes the tag rules reports it and syncs at once', async () => {
      assert.deepEqual(await catalog('pii'), []);
      writeFileSync(configPath, configText(`\n      - { path: "${p}/items", tags: { pii: "true" } }`));
      const res = await s.as('carol', 'POST', '/api/v1/admin/config/reload', {});
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.integrations.changed, [{ id: 't', parts: ['tagRules'] }]);
      for (let i = 0; i < 200 && (await catalog('pii')).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(await catalog('pii'), [`${p}/items`], 'the new rule applied without waiting for the interval');
      writeFileSync(configPath, configText(''));
      assert.equal((await s.as('carol', 'POST', '/api/v1/admin/config/reload', {})).status, 200);
      for (let i = 0; i < 200 && (await catalog('pii')).length > 0; i++) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(await catalog('pii'), []);
    });

    test('the inventory is for admins and approvers: others get 403; filters and pages', async () => {
      assertProblem(await s.as('alice', 'GET', '/api/v1/resources'), 403);
      assertProblem(await s.as('alice', 'POST', '/api/v1/admin/resources/sync', {}), 403);
      assertProblem(await s.as('erin', 'POST', '/api/v1/admin/resources/sync', {}), 403);
      const approver = await s.as('erin', 'GET', '/api/v1/resources?integration=t&tag=zone=app');
      assert.equal(approver.status, 200, approver.text);
      assert.ok(approver.body.resources.length >= 2);
      assert.ok(approver.body.resources.every((r: { tags: Record<string, string> }) => r.tags.zone === 'app'));

      // A page at a time, in order, each resource once.
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { resources: { type: string; path: string }[]; nextCursor: string | null } } = await s.as('carol', 'GET', `/api/v1/resources?integration=t&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(page.status, 200);
        assert.ok(page.body.resources.length <= 1);
        seen.push(...page.body.resources.map((r) => `${r.type}:${r.path}`));
        cursor = page.body.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, [...new Set(seen)]);
      const all = await s.as('carol', 'GET', '/api/v1/resources?integration=t&limit=1000');
      assert.deepEqual(seen, all.body.resources.map((r: { type: string; path: string }) => `${r.type}:${r.path}`));

      assertProblem(await s.as('carol', 'GET', '/api/v1/resources?cursor=not-a-cursor'), 422, 'query cursor', /cursor is not one that nextCursor gave/);
      assertProblem(await s.as('carol', 'GET', `/api/v1/resources?cursor=${Buffer.from('["a"]').toString('base64url')}`), 422, 'query cursor');
      assertProblem(await s.as('carol', 'GET', '/api/v1/resources?limit=0'), 422, 'query limit', /limit must be from 1 to 1000; got 0/);
      assertProblem(await s.as('carol', 'GET', '/api/v1/resources?limit=99999999999999999999'), 400);
      assertProblem(await s.as('carol', 'GET', '/api/v1/resources?tag=nokey'), 400);
      assertProblem(await s.as('carol', 'POST', '/api/v1/admin/resources/sync', { integration: '../t' }), 404);

      const cli: string[] = [];
      assert.equal(await main(['resources', '--integration', 't', '--tag', 'pii=true', '--url', s.svc.url, '--token', s.tokens.carol], (l) => cli.push(l)), 0);
      assert.deepEqual(cli, ['(none)'], 'the table with pii=true was dropped');
      const zone: string[] = [];
      assert.equal(await main(['resources', '--integration', 't', '--tag', 'zone=app', '--url', s.svc.url, '--token', s.tokens.carol], (l) => zone.push(l)), 0);
      assert.match(zone[0]!, /^integration +type +path +origin +tags +last seen$/);
      assert.ok(zone.some((l) => /^t +table +.*\/items +discovered +zone=app /.test(l)), zone.join('\n'));
      const bad: string[] = [];
      await assert.rejects(main(['resources', '--tag', 'nokey', '--url', s.svc.url, '--token', s.tokens.carol], (l) => bad.push(l)), /--tag expects key=value; got "nokey"/);
    });
  });
}
