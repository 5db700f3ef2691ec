// Throwaway PostgreSQL databases for tests. A test file gets one database of its own
// (`lapse_t_<random>`, created on first use and dropped when the process ends); each store
// inside it gets a fresh schema, which is much cheaper than a database per test and just as
// isolated. Only objects created here are ever dropped.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { deriveAuditKey } from '../audit/chain.ts';

/** One sealing key for every replica a test starts (the PostgreSQL store requires one). */
export const TEST_SECRET_KEY = randomBytes(32).toString('base64');
/** The audit chain's key that goes with it (what a server with TEST_SECRET_KEY derives). */
export const TEST_AUDIT_KEY = deriveAuditKey(Buffer.from(TEST_SECRET_KEY, 'base64'));

/** The server the tests use (a database on it to connect to first); trust auth on this machine's CI. */
export const TEST_PG_URL = process.env.LAPSE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Which store the engine and API suites run on: `LAPSE_TEST_STORE=postgres` selects PostgreSQL. */
export function testStoreKind(): 'sqlite' | 'postgres' {
  return process.env.LAPSE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
}

export function urlForDatabase(name: string, base = TEST_PG_URL): string {
  const u = new URL(base);
  u.pathname = '/' + name;
  return u.toString();
}

/** Creates a database with a unique name; `drop` removes it (ending any connection left to it). */
export async function createTestDatabase(prefix = 'lapse_t'): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  return {
    name,
    url: urlForDatabase(name),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

let fileDatabase: Promise<{ name: string; url: string; drop(): Promise<void> }> | null = null;

/** This process's database, created on first use and dropped when the process is about to exit. */
function processDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  if (!fileDatabase) {
    fileDatabase = createTestDatabase();
    let dropped = false;
    process.on('beforeExit', () => {
      if (dropped) return;
      dropped = true;
      void fileDatabase!.then((db) => db.drop()).catch((err: unknown) => console.error(`could not drop the test database: ${String(err)}`));
    });
  }
  return fileDatabase;
}

/**
 * A store URL for a fresh, empty schema in this process's test database: the store's
 * connections use it as their search path, so its migrations create their tables there.
 */
export async function freshTestStoreUrl(): Promise<string> {
  const db = await processDatabase();
  const schema = `s_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA "${schema}"`);
  } finally {
    await client.end();
  }
  const u = new URL(db.url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}
