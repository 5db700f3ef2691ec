// Benchmarks of the postgresql and mysql integrations against the local servers
// (PostgreSQL 127.0.0.1:5432 as postgres, MariaDB/MySQL 127.0.0.1:3306 as root; override
// with LAPSE_TEST_PG_* / LAPSE_TEST_MYSQL_*). Registered in run.ts as `sql-latency` and
// `pg-storm`. Each run creates its own database and role prefix and drops them after.
//
// - sql-latency: grant and revoke latency, p50/p99 over BENCH_SQL_CYCLES (200) cycles of
//   one table-read grant followed by its revoke, per integration type.
// - pg-storm: BENCH_PG_STORM (200) requests of 200 people granted concurrently through
//   the engine, then all expiring at the same second: time until all are active, time until
//   all are expired, and how many roles are left behind (must be 0).

import type { Entitlement } from '../src/domain/request.ts';
import { DEFAULT_RESOURCE_TYPES } from '../src/domain/config.ts';
import { buildConfig, createHarness, flow, HOUR, resource, selector, user } from '../src/engine/test-support.ts';
import { DemoIntegration } from '../src/integrations/demo-integration.ts';
import type { Integration } from '../src/integrations/integration.ts';
import { MysqlIntegration } from '../src/integrations/mysql.ts';
import { PostgresIntegration } from '../src/integrations/postgresql.ts';
import {
  createPgDatabase, hex, MY, myAdminQuery, myCleanup, myIdent, PG, pgCleanup, pgRolesWithPrefix, uniquePrefix,
} from '../src/integrations/sql/sql-test-support.ts';
import { grantRevokeCycles, summarize } from './support.ts';

export type Report = (name: string, figure: string, target?: string) => void;

const ms = (v: number) => `${v.toFixed(2)} ms`;

export async function sqlLatencyBench(report: Report): Promise<void> {
  const n = Number(process.env.BENCH_SQL_CYCLES ?? 200);
  console.log(`sql-latency: ${n} grant + revoke cycles of one table read, per integration (after 10 warm-up cycles)`);
  const prefix = uniquePrefix();

  const pgDb = `lapse_b_pg_${hex()}`;
  await createPgDatabase(pgDb, ['CREATE TABLE items (id int)']);
  const pgInt = new PostgresIntegration('pg', { ...PG, database: 'postgres' }, { rolePrefix: prefix });
  try {
    const ent: Entitlement = { integration: 'pg', resourceType: 'table', resource: `${pgDb}/public/items`, permission: 'read' };
    await grantRevokeCycles(pgInt, ent, 10);
    const r = await grantRevokeCycles(pgInt, ent, n);
    const g = summarize(r.grant), v = summarize(r.revoke);
    report('postgresql grant p50 / p99', `${ms(g.p50)} / ${ms(g.p99)}`);
    report('postgresql revoke p50 / p99', `${ms(v.p50)} / ${ms(v.p99)}`);
    report('postgresql roles left after the cycles', String((await pgRolesWithPrefix(prefix)).length), '0');
  } finally {
    await pgInt.close();
    await pgCleanup([pgDb], prefix);
  }

  const myDb = `lapse_b_my_${hex()}`;
  const books = `lapse_b_my_books_${hex()}`;
  await myAdminQuery(`CREATE DATABASE ${myIdent(myDb)}`);
  await myAdminQuery(`CREATE TABLE ${myIdent(myDb)}.items (id INT)`);
  const myInt = new MysqlIntegration('my', { ...MY, bookkeepingDatabase: books }, { rolePrefix: prefix });
  try {
    const ent: Entitlement = { integration: 'my', resourceType: 'table', resource: `${myDb}/items`, permission: 'read' };
    await grantRevokeCycles(myInt, ent, 10);
    const r = await grantRevokeCycles(myInt, ent, n);
    const g = summarize(r.grant), v = summarize(r.revoke);
    report('mysql grant p50 / p99', `${ms(g.p50)} / ${ms(g.p99)}`);
    report('mysql revoke p50 / p99', `${ms(v.p50)} / ${ms(v.p99)}`);
    report('mysql users left after the cycles', String((await myInt.markedUsers()).length), '0');
  } finally {
    await myInt.close();
    await myCleanup([myDb, books], prefix);
  }
}

export async function pgStormBench(report: Report): Promise<void> {
  const count = Number(process.env.BENCH_PG_STORM ?? 200);
  console.log(`pg-storm: ${count} concurrent grants on PostgreSQL through the engine, then all expiring at the same second`);
  const prefix = uniquePrefix();
  const db = `lapse_b_pgs_${hex()}`;
  await createPgDatabase(db, ['CREATE TABLE items (id int)']);
  const pgInt = new PostgresIntegration('pg', { ...PG, database: 'postgres' }, { rolePrefix: prefix });
  const users = Array.from({ length: count }, (_, i) => user(`u${i}`, ['engineering']));
  const config = buildConfig({
    users: [...users, user('carol', ['security'])],
    shifts: [],
    bundles: [],
    flows: [flow('pg', { targets: [{ selector: selector('pg', 'table', ['read']) }], grantFor: HOUR })],
    extraIntegrations: [{
      id: 'pg', type: 'postgresql', name: 'pg', connection: {}, resourceTypes: DEFAULT_RESOURCE_TYPES.postgresql,
      resources: [resource('database', db), resource('table', 'items', {}, `${db}/public`)],
    }],
  });
  const h = await createHarness({
    config, start: Date.now(),
    engine: { integrations: new Map<string, Integration>([['demo', new DemoIntegration('demo', ':memory:', [])], ['pg', pgInt]]), inlineWaitMs: 0 },
  });
  try {
    const ent: Entitlement = { integration: 'pg', resourceType: 'table', resource: `${db}/public/items`, permission: 'read' };
    const t0 = performance.now();
    const created = await Promise.all(users.map((u) => h.engine.createRequest(u.id, { flowId: 'pg', entitlements: [ent] })));
    const ids = created.map((r) => r.id);
    const statuses = async () => Promise.all(ids.map(async (id) => (await h.store.getRequest(id))!));
    let rs = await statuses();
    while (rs.some((r) => r.status === 'granting')) {
      await new Promise((r) => setTimeout(r, 20));
      await h.scheduler.runDue(); // grant retries, if any
      rs = await statuses();
    }
    const grantedMs = performance.now() - t0;
    const active = rs.filter((r) => r.status === 'active');
    const rolesAfterGrant = (await pgRolesWithPrefix(prefix)).length;
    // Every request expires at the same second: set the clock past the latest expiry and run.
    const latest = Math.max(...active.map((r) => r.expiresAt!));
    const t1 = performance.now();
    h.clock.set(latest);
    for (;;) {
      await h.scheduler.runDue();
      rs = await statuses();
      if (!rs.some((r) => r.status === 'active' || r.status === 'revoking')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const revokedMs = performance.now() - t1;
    const left = (await pgRolesWithPrefix(prefix)).length;
    report(`pg-storm: ${count} concurrent grants active`, `${active.length} of ${count} (${rolesAfterGrant} roles) in ${(grantedMs / 1000).toFixed(2)} s`);
    report(`pg-storm: ${count} expiring at once, revoked`, `${rs.filter((r) => r.status === 'expired').length} of ${count} in ${(revokedMs / 1000).toFixed(2)} s`);
    report('pg-storm: roles left behind', String(left), '0');
  } finally {
    await h.close();
    await pgInt.close();
    await pgCleanup([db], prefix);
  }
}
