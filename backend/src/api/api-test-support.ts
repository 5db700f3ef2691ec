// Shared pieces of the API tests: the example team, a small fetch wrapper and the
// problem+json assertion.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startService, STORE_FILE, type Service, type ServiceOptions } from '../service.ts';
import { PostgresStore } from '../store/postgres-store.ts';
import { silentLogger } from '../logger.ts';
import { createToken } from '../auth/tokens.ts';
import { freshTestStoreUrl, TEST_SECRET_KEY, testStoreKind } from '../store/postgres-test-support.ts';

export const EXAMPLE = fileURLToPath(new URL('../../examples/lapse.yaml', import.meta.url));
export const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
export type User = (typeof USERS)[number];

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  // Parsed JSON of whatever shape the endpoint answers; the tests assert on it field by field.
  body: any;
}

export interface TestServer {
  svc: Service;
  dir: string;
  tokens: Record<User, string>;
  as(user: User, method: string, path: string, body?: unknown): Promise<Res>;
}

/**
 * A real server on a free port in a fresh data directory (or `dir`), with a token per user.
 * Its store is SQLite in the data directory, or with LAPSE_TEST_STORE=postgres (or `store`)
 * a fresh schema on the test PostgreSQL server.
 */
export async function startTestServer(opts: { configPath?: string; dir?: string; env?: NodeJS.ProcessEnv; store?: 'sqlite' | 'postgres'; revokeBackoff?: { baseMs: number; capMs: number }; writeAdmission?: ServiceOptions['writeAdmission'] } = {}): Promise<TestServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'lapse-'));
  const store = (opts.store ?? testStoreKind()) === 'postgres' ? await freshTestStoreUrl() : undefined;
  const svc = await startService({ configPath: opts.configPath ?? EXAMPLE, dataDir: dir, port: 0, logger: silentLogger, env: { ...(store ? { LAPSE_SECRET_KEY: TEST_SECRET_KEY } : {}), ...opts.env }, store, ...(opts.revokeBackoff ? { revokeBackoff: opts.revokeBackoff } : {}), writeAdmission: opts.writeAdmission });
  const tokens = {} as Record<User, string>;
  for (const u of USERS) tokens[u] = (await createToken(svc.store, u, `test ${u}`)).token;
  return { svc, dir, tokens, as: (user, method, path, body) => call(svc.url, method, path, tokens[user], body) };
}

/**
 * Everything the server's database holds, as raw bytes: SQLite's files (and write-ahead
 * log), or every row of every table of a PostgreSQL store as text.
 */
export async function rawStoreBytes(s: TestServer): Promise<Buffer> {
  if (s.svc.store instanceof PostgresStore) {
    const pool = s.svc.store.pool;
    const tables = (await pool.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")).rows as { table_name: string }[];
    const parts: string[] = [];
    for (const { table_name } of tables) {
      const rows = (await pool.query(`SELECT t::text AS line FROM "${table_name.replace(/"/g, '""')}" t`)).rows as { line: string }[];
      parts.push(...rows.map((r) => r.line));
    }
    return Buffer.from(parts.join('\n'));
  }
  return Buffer.concat(['', '-wal'].map((suffix) => join(s.dir, STORE_FILE + suffix)).filter(existsSync).map((p) => readFileSync(p)));
}

/** One HTTP call; `raw` sends a body as is (for malformed JSON). */
export async function call(url: string, method: string, path: string, token?: string, body?: unknown, opts: { raw?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const h: Record<string, string> = { ...opts.headers };
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  if ((body !== undefined || opts.raw !== undefined) && !h['content-type']) h['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers: h, body: opts.raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (/json/.test(res.headers.get('content-type') ?? '') && text) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** An application/problem+json answer with this status, a readable detail and (if given) the field at fault. */
export function assertProblem(res: Res, status: number, field?: string, detail?: RegExp): void {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(res.body.status, status);
  assert.equal(typeof res.body.title, 'string');
  assert.equal(typeof res.body.detail, 'string');
  assert.ok(res.body.detail.length >= 10, `a readable detail: ${res.body.detail}`);
  if (field !== undefined) assert.equal(res.body.field, field, `field of "${res.body.detail}"`);
  if (detail !== undefined) assert.match(res.body.detail, detail);
}

export const ent = (resourceType: string, resource: string, permission: string) => ({ integration: 'demo', resourceType, resource, permission });
export const appRead = ent('database', 'app', 'read');
export const analyticsRead = ent('database', 'analytics', 'read');
export const usersWrite = ent('table', 'app/users', 'write');
export const ordersWrite = ent('table', 'app/orders', 'write');

export interface SseEvent { id?: string; event?: string; data?: any }

export interface SseStream {
  status: number;
  events: SseEvent[];
  connected: Promise<void>;
  ended: Promise<void>;
  headers: Headers;
  isEnded(): boolean;
  /** Ends the stream from the client's side. */
  close(): void;
}

/** An open event stream (GET /api/v1/events): collects parsed events until it ends. `headers` (Last-Event-ID) and `query` go along. */
export async function openEventStream(url: string, token: string, opts: { headers?: Record<string, string>; query?: string } = {}): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(`${url}/api/v1/events${opts.query ?? ''}`, { headers: { ...opts.headers, authorization: `Bearer ${token}` }, signal: controller.signal });
  const events: SseEvent[] = [];
  let markConnected!: () => void;
  const connected = new Promise<void>((resolve) => { markConnected = resolve; });
  let over = false;
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (block.includes(': connected as')) markConnected();
          const e: SseEvent = {};
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) e.id = line.slice(4);
            else if (line.startsWith('event: ')) e.event = line.slice(7);
            else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6));
          }
          if (e.event) events.push(e);
        }
      }
    } catch {
      // the server went away
    } finally {
      over = true;
    }
  })();
  return { status: res.status, events, connected, ended, headers: res.headers, isEnded: () => over, close: () => controller.abort() };
}

/** Polls `predicate` every 10 ms for at most `ms`; its last answer. */
export async function waitFor(predicate: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return predicate();
}
