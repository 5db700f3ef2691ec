// `npm run bench -- inventory`: the catalog over discovered resources, and the API while a
// discovery syncs, each as a ratio to its baseline measured in the same run.
//
// 1. One user's catalog (compute and serialise) over 20,000 tables that a discovery found,
//    beside the same catalog over the same 20,000 tables declared in the configuration:
//    first call after a compile (selectors expanded) and p99 of warm calls.
// 2. A server process discovering a real PostgreSQL database of 20,000 tables: the API's p99
//    (/me from three clients, the whole catalog from a fourth) while a sync of them runs,
//    beside at rest.

import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.ts';
import { CompiledConfig, catalogFor } from '../src/domain/catalog.ts';
import type { ResourceConfig } from '../src/domain/config.ts';
import { httpCall, loadLoop, sleep, startServerProcess, summarize, tempDir, tokenFor } from './support.ts';

type Report = (name: string, figure: string, target?: string) => void;

const TABLES = Number(process.env.BENCH_INVENTORY_TABLES ?? 20_000);
const SCHEMAS = 20;
/** Warm catalog calls per measurement (each serialises every entitlement of the user's flows). */
const WARM_CALLS = 50;
const PG_URL = process.env.LAPSE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const ms = (v: number) => `${v.toFixed(2)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

/** The database, its schemas and their tables, as a discovery finds them (or a configuration declares them). */
function resources(db: string): ResourceConfig[] {
  const perSchema = Math.ceil(TABLES / SCHEMAS);
  return [
    { type: 'database', name: db, tags: {} },
    ...Array.from({ length: SCHEMAS }, (_, s) => ({ type: 'schema', name: `s${s}`, parent: db, tags: {} })),
    ...Array.from({ length: TABLES }, (_, i) => ({
      type: 'table', name: `t${i}`, parent: `${db}/s${Math.floor(i / perSchema)}`, tags: i % 10 === 0 ? { team: `t${(i / 10) % 50}` } : {},
    })),
  ];
}

function benchConfig(db: string, declared: ResourceConfig[], connection: Record<string, unknown>): string {
  const flow = (id: string, resources: unknown) => ({
    id, targets: [{ integration: 'pg', resourceType: 'table', resources, permissions: ['read', 'write'] }],
    requesters: { conditions: [{ attribute: 'group', value: 'engineering' }] }, grantFor: '1h', maxDuration: '8h', approval: 'automatic',
  });
  return stringify({
    settings: { admins: ['carol'], reconcileEvery: 'off' },
    identities: { users: [{ id: 'alice', email: 'alice@example.com', groups: ['engineering'] }, { id: 'carol', email: 'carol@example.com', groups: ['security'] }] },
    integrations: [{ id: 'pg', type: 'postgresql', connection, resources: declared }],
    flows: [flow('all-tables', 'any'), flow('team-7', { tags: { team: 't7' } }), flow('schema-3', { parents: [`${db}/s3`] }), flow('but-one', { except: ['t1'] })],
  });
}

/** Compile and first call (median of several), and p99 of warm calls. */
function measureCatalog(compile: () => CompiledConfig): { cold: number; p99: number; entitlements: number } {
  const colds: number[] = [];
  let compiled = compile();
  for (let i = 0; i < 3; i++) {
    compiled = compile();
    const t = performance.now();
    JSON.stringify(catalogFor(compiled, compiled.users.get('alice')!, Date.now()));
    colds.push(performance.now() - t);
  }
  const user = compiled.users.get('alice')!;
  const warm: number[] = [];
  let entitlements = 0;
  for (let i = 0; i < WARM_CALLS; i++) {
    const t = performance.now();
    const flows = catalogFor(compiled, user, Date.now());
    JSON.stringify({ flows });
    warm.push(performance.now() - t);
    entitlements = flows.reduce((n, f) => n + f.entitlements.length, 0);
  }
  return { cold: summarize(colds).p50, p99: summarize(warm).p99, entitlements };
}

async function catalogPart(report: Report): Promise<void> {
  const db = 'bench';
  const list = resources(db);
  const parsing = performance.now();
  const conn = { host: '127.0.0.1', user: 'postgres' };
  const parse = (text: string) => {
    const parsed = parseConfig(text, 'bench.yaml');
    if (!parsed.ok) throw new Error(parsed.errors.slice(0, 3).map((e) => e.message).join('; '));
    return parsed.config;
  };
  const declaredConfig = parse(benchConfig(db, list, conn));
  const bareConfig = parse(benchConfig(db, [], conn));
  console.log(`  (configurations parsed in ${((performance.now() - parsing) / 1000).toFixed(1)} s)`);
  // As the service compiles them: the inventory's rows as resources of the integration.
  const discovered = new Map([['pg', list.map((r) => ({ ...r }))]]);
  // Alternate, so that the machine's changing load falls on both alike.
  const declared: ReturnType<typeof measureCatalog>[] = [];
  const found: ReturnType<typeof measureCatalog>[] = [];
  for (let round = 0; round < 2; round++) {
    declared.push(measureCatalog(() => new CompiledConfig(declaredConfig)));
    found.push(measureCatalog(() => new CompiledConfig(bareConfig, discovered)));
  }
  const best = (xs: ReturnType<typeof measureCatalog>[], k: 'cold' | 'p99') => Math.min(...xs.map((x) => x[k]));
  report('inventory: catalog entitlements for one user', `${found[0]!.entitlements} discovered, ${declared[0]!.entitlements} declared`);
  report('inventory: catalog first call after a compile, declared', ms(best(declared, 'cold')));
  report('inventory: catalog first call after a compile, discovered', ms(best(found, 'cold')));
  report('inventory: catalog p99 (compute + serialise), declared', ms(best(declared, 'p99')));
  report('inventory: catalog p99 (compute + serialise), discovered', ms(best(found, 'p99')));
  report('inventory: catalog p99 discovered / declared', ratio(best(found, 'p99'), best(declared, 'p99')), '≤ 1.5×');
}

async function makeTables(db: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const u = new URL(PG_URL);
  u.pathname = `/${db}`;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  const perSchema = Math.ceil(TABLES / SCHEMAS);
  for (let s = 0; s < SCHEMAS; s++) {
    // One schema a transaction: a lock per table made, within the server's lock table.
    await c.query(`CREATE SCHEMA s${s}`);
    await c.query(`DO $$ BEGIN FOR i IN ${s * perSchema}..${Math.min(TABLES, (s + 1) * perSchema) - 1} LOOP
      EXECUTE format('CREATE TABLE s${s}.t%s (id int)', i);
      IF i % 10 = 0 THEN EXECUTE format('COMMENT ON TABLE s${s}.t%s IS %L', i, 'lapse: team=t' || ((i / 10) % 50)); END IF;
    END LOOP; END $$`);
  }
  await c.end();
}

async function dropDatabase(db: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.end();
}

async function syncPart(report: Report): Promise<void> {
  const db = `lapse_bench_inv_${process.pid}`;
  const made = performance.now();
  await makeTables(db);
  report('inventory: target', `${TABLES} tables in ${SCHEMAS} schemas made in ${((performance.now() - made) / 1000).toFixed(1)} s`);
  const dir = tempDir('inventory');
  const configPath = join(dir, 'lapse.yaml');
  const u = new URL(PG_URL);
  writeFileSync(configPath, benchConfig(db, [], { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), database: 'postgres', discoverDatabases: [db] }));
  const dataDir = join(dir, 'data');
  const alice = await tokenFor(dataDir, 'alice');
  const carol = await tokenFor(dataDir, 'carol');
  const server = await startServerProcess(configPath, dataDir);
  try {
    report('inventory: server start to listening (first sync of every table included)', `${((server.listeningAt - server.startedAt) / 1000).toFixed(1)} s`);
    const me = () => httpCall(`${server.url}/api/v1/me`, 'GET', alice).then((r) => r.status === 200);
    const cat = () => httpCall(`${server.url}/api/v1/catalog`, 'GET', alice).then((r) => r.status === 200);
    const catalog = JSON.parse((await httpCall(`${server.url}/api/v1/catalog`, 'GET', alice)).body) as { flows: { entitlements: unknown[] }[] };
    const catalogBytes = (await httpCall(`${server.url}/api/v1/catalog`, 'GET', alice)).body.length;
    report('inventory: served catalog', `${catalog.flows.reduce((n, f) => n + f.entitlements.length, 0)} entitlements, ${(catalogBytes / 1048576).toFixed(1)} MiB`);
    /** Three clients calling /me and one fetching the whole catalog, side by side, for `ms`. */
    const load = async (ms: number) => {
      const [small, big] = await Promise.all([loadLoop(3, ms, me), loadLoop(1, ms, cat)]);
      return { small: small.latencies, big: big.latencies };
    };
    await load(1000); // warm-up
    const rest = { small: [] as number[], big: [] as number[] };
    const during = { small: [] as number[], big: [] as number[] };
    const syncTimes: number[] = [];
    for (let round = 0; round < 3; round++) {
      const r = await load(3000);
      rest.small.push(...r.small);
      rest.big.push(...r.big);
      let done = false;
      const t = performance.now();
      const sync = httpCall(`${server.url}/api/v1/admin/resources/sync`, 'POST', carol, { integration: 'pg' }).then((res) => {
        done = true;
        syncTimes.push(performance.now() - t);
        const result = JSON.parse(res.body) as { results: { status: string; resourceCount: number }[] };
        if (res.status !== 200 || result.results[0]?.status !== 'synced') throw new Error(`sync: ${res.status} ${res.body.slice(0, 300)}`);
      });
      await Promise.all([sync, (async () => {
        while (!done) {
          const l = await load(200);
          during.small.push(...l.small);
          during.big.push(...l.big);
        }
      })()]);
      await sleep(200);
    }
    const rs = summarize(rest.small);
    const ds = summarize(during.small);
    const rb = summarize(rest.big);
    const db2 = summarize(during.big);
    report('inventory: sync of every table (median of 3, on demand)', `${(summarize(syncTimes).p50 / 1000).toFixed(2)} s`);
    report('inventory: GET /api/v1/me p99 at rest', `${ms(rs.p99)} (p50 ${ms(rs.p50)}, n=${rs.n})`);
    report('inventory: GET /api/v1/me p99 during a sync', `${ms(ds.p99)} (p50 ${ms(ds.p50)}, n=${ds.n})`);
    report('inventory: GET /api/v1/me p99 during a sync / at rest', ratio(ds.p99, rs.p99), '≤ 2×');
    report('inventory: GET /api/v1/catalog (whole) p99 at rest', `${ms(rb.p99)} (p50 ${ms(rb.p50)}, n=${rb.n})`);
    report('inventory: GET /api/v1/catalog (whole) p99 during a sync', `${ms(db2.p99)} (p50 ${ms(db2.p50)}, n=${db2.n})`);
    report('inventory: GET /api/v1/catalog p99 during a sync / at rest', ratio(db2.p99, rb.p99), '≤ 2×');
  } finally {
    await server.stop();
    await dropDatabase(db);
  }
}

export async function inventoryBench(report: Report): Promise<void> {
  console.log(`inventory: one user's catalog over ${TABLES} discovered vs declared tables; API p99 during a sync of ${TABLES} tables vs at rest`);
  await catalogPart(report);
  await syncPart(report);
}
