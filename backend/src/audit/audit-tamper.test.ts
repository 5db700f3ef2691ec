// The audit chain against someone who can write the database but holds neither the server's
// key nor its data directory: every rewrite of the chain they can make is caught by
// `lapse audit verify` (offline and through the API), on both stores. And a chain an older
// version wrote without a key is sealed once, at the first start, never afterwards.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, GENESIS_HASH, hashAuditEvent, legacyHashAuditEvent } from './chain.ts';
import { AUDIT_CHECKPOINT_FILE, readCheckpoint } from './checkpoint.ts';
import { verifyAuditChain } from './verify.ts';
import { auditKeyFor } from '../service.ts';
import { main } from '../cli/main.ts';
import { appRead, startTestServer, waitFor, type TestServer } from '../api/api-test-support.ts';
import { TEST_SECRET_KEY } from '../store/postgres-test-support.ts';
import type { AuditEvent } from '../store/store.ts';
import type { PostgresStore } from '../store/postgres-store.ts';
import type { SqliteStore } from '../store/sqlite-store.ts';
import { randomBytes } from 'node:crypto';

type RawStore = SqliteStore | PostgresStore;

/** Raw SQL on either store (`?` placeholders). */
const raw = async (s: TestServer, sql: string, ...params: unknown[]) => (s.svc.store as RawStore).execRaw(sql, ...params);

async function allEvents(s: TestServer): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const page of s.svc.store.iterateAudit()) out.push(...page);
  return out;
}

/** The key the server derived (from LAPSE_SECRET_KEY on PostgreSQL, else its data directory's secret.key). */
const keyOf = (s: TestServer) => auditKeyFor(s.dir, s.svc.store.kind === 'postgres' ? { LAPSE_SECRET_KEY: TEST_SECRET_KEY } : {}, { create: false });

/** Some activity, then waits until the checkpoint outside the database has caught up with the head. */
async function activity(s: TestServer): Promise<AuditEvent[]> {
  for (let i = 0; i < 3; i++) {
    const r = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '30m' });
    assert.equal(r.status, 201);
    assert.equal((await s.as('alice', 'POST', `/api/v1/requests/${r.body.id}/revoke`, {})).status, 200);
  }
  const head = (await s.svc.store.auditHead())!;
  const path = join(s.dir, AUDIT_CHECKPOINT_FILE);
  assert.ok(await waitFor(() => readCheckpoint(path, keyOf(s)).checkpoint?.seq === head.seq, 3000), 'the checkpoint follows the head within a second or so');
  return allEvents(s);
}

/** Rewrites every event from `from` on with `hash` (what someone without the key can do), and the head. */
async function rechain(s: TestServer, events: AuditEvent[], hash: (prev: string, e: AuditEvent & { dataText: string }) => string): Promise<void> {
  let prev = GENESIS_HASH;
  for (const e of events) {
    const h = hash(prev, { ...e, dataText: canonicalJson(e.data) });
    await raw(s, 'UPDATE audit SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?', canonicalJson(e.data), prev, h, e.seq);
    prev = h;
  }
  await raw(s, 'UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', events.at(-1)!.seq, prev);
}

async function verifyThroughApi(s: TestServer) {
  const res = await s.as('carol', 'GET', '/api/v1/audit/verify');
  assert.equal(res.status, 200);
  return res.body as { ok: boolean; checked: number; problems: { seq: number; problem: string }[]; checkpoint: { seq: number } | null };
}

export function tamperSuite(): void {
  describe('the audit chain against a writer of the database without the key', () => {
    let s: TestServer;
    before(async () => { s = await startTestServer(); });
    after(async () => { await s.svc.stop(); rmSync(s.dir, { recursive: true, force: true }); });

    test('an untouched chain verifies, up to and past its checkpoint', async () => {
      await activity(s);
      const result = await verifyThroughApi(s);
      assert.deepEqual(result.problems, []);
      assert.equal(result.ok, true);
      assert.ok(result.checkpoint && result.checkpoint.seq > 0);
    });

    test('deleting the last events and moving the head back is caught by the checkpoint outside the database', async () => {
      const events = await activity(s);
      const keep = events.at(-3)!;
      await raw(s, 'DELETE FROM audit WHERE seq > ?', keep.seq);
      await raw(s, 'UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', keep.seq, keep.hash);
      const result = await verifyThroughApi(s);
      assert.equal(result.ok, false);
      assert.match(result.problems.map((p) => p.problem).join('\n'), new RegExp(`the chain ends at event ${keep.seq}, but the checkpoint outside the database recorded event ${events.at(-1)!.seq}`));
      // The checkpoint is kept as evidence: the server does not move it back to the shortened chain.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(readCheckpoint(join(s.dir, AUDIT_CHECKPOINT_FILE), keyOf(s)).checkpoint?.seq, events.at(-1)!.seq);
      // Put back, for the next test.
      for (const e of events.filter((x) => x.seq > keep.seq)) {
        await raw(s, 'INSERT INTO audit (seq, at, actor, action, request_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', e.seq, e.at, e.actor, e.action, e.requestId, canonicalJson(e.data), e.prevHash, e.hash);
      }
      await raw(s, 'UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', events.at(-1)!.seq, events.at(-1)!.hash);
      assert.equal((await verifyThroughApi(s)).ok, true);
    });

    test('editing an event and computing every hash again (without the key, or with another) is caught at that event', async () => {
      const events = await activity(s);
      const target = events.find((e) => e.action === 'request.created')!;
      const edited = events.map((e) => (e.seq === target.seq ? { ...e, data: { ...e.data, justification: 'nothing to see' } } : e));
      for (const [name, hash] of [
        ['unkeyed, as before', legacyHashAuditEvent],
        ['another key', (prev: string, e: AuditEvent & { dataText: string }) => hashAuditEvent(randomBytes(32), prev, e)],
      ] as const) {
        await rechain(s, edited, hash);
        const result = await verifyThroughApi(s);
        assert.equal(result.ok, false, name);
        assert.ok(result.problems.some((p) => p.seq === 1 && /not made with this server's key/.test(p.problem)), `${name}: ${JSON.stringify(result.problems.slice(0, 3))}`);
        assert.ok(result.problems.some((p) => p.seq === target.seq), `${name}: the edited event is named`);
      }
      // Restoring the original rows verifies again.
      for (const e of events) await raw(s, 'UPDATE audit SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?', canonicalJson(e.data), e.prevHash, e.hash, e.seq);
      await raw(s, 'UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', events.at(-1)!.seq, events.at(-1)!.hash);
      assert.equal((await verifyThroughApi(s)).ok, true);
    });

    test('a checkpoint file edited to match a shortened chain is caught (it carries the key\'s signature)', async () => {
      const events = await activity(s);
      const path = join(s.dir, AUDIT_CHECKPOINT_FILE);
      const original = readFileSync(path, 'utf8');
      const doc = JSON.parse(original) as { seq: number; hash: string };
      writeFileSync(path, JSON.stringify({ ...doc, seq: events.at(-2)!.seq, hash: events.at(-2)!.hash }));
      const result = await verifyAuditChain(s.svc.store, keyOf(s), readCheckpoint(path, keyOf(s)));
      assert.equal(result.ok, false);
      assert.match(result.problems[0]!.problem, /does not carry this server's signature/);
      writeFileSync(path, original);
    });
  });
}

function embeddedOnly(): void {
describe('lapse audit verify on a stopped server\'s data directory', () => {
  test('passes on the real chain; fails on a shortened one, naming the checkpoint', async () => {
    const s = await startTestServer({ store: 'sqlite' });
    try {
      const events = await activity(s);
      await s.svc.stop();
      const out: string[] = [];
      assert.equal(await main(['audit', 'verify', '--data-dir', s.dir], (line) => out.push(line)), 0, out.join('\n'));
      assert.match(out.join('\n'), new RegExp(`audit chain ok: ${events.length} events verified, up to and beyond the checkpoint of event ${events.at(-1)!.seq}`));
      const { SqliteStore } = await import('../store/sqlite-store.ts');
      const store = new SqliteStore(join(s.dir, 'lapse.db'));
      store.execRaw('DELETE FROM audit WHERE seq = ?', events.at(-1)!.seq);
      store.execRaw('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', events.at(-2)!.seq, events.at(-2)!.hash);
      await store.close();
      const broken: string[] = [];
      assert.equal(await main(['audit', 'verify', '--data-dir', s.dir], (line) => broken.push(line)), 1);
      assert.match(broken.join('\n'), /audit chain BROKEN: 1 problem\(s\)/);
      assert.match(broken.join('\n'), /events were removed from the end/);
    } finally {
      await s.svc.stop();
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
});

describe('a chain written before the chain was keyed', () => {
  test('is checked and sealed with the key at the first start, and never again once a checkpoint exists', async () => {
    const s = await startTestServer({ store: 'sqlite' });
    let dir = s.dir;
    try {
      await activity(s);
      await s.svc.stop();
      // As an older version left it: unkeyed hashes, no checkpoint.
      const { SqliteStore } = await import('../store/sqlite-store.ts');
      const store = new SqliteStore(join(dir, 'lapse.db'));
      const events: AuditEvent[] = [];
      for await (const page of store.iterateAudit()) events.push(...page);
      let prev = GENESIS_HASH;
      for (const e of events) {
        const h = legacyHashAuditEvent(prev, { ...e, dataText: canonicalJson(e.data) });
        store.execRaw('UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?', prev, h, e.seq);
        prev = h;
      }
      store.execRaw('UPDATE audit_head SET hash = ? WHERE id = 1', prev);
      await store.close();
      rmSync(join(dir, AUDIT_CHECKPOINT_FILE));

      const again = await startTestServer({ store: 'sqlite', dir });
      dir = again.dir;
      const result = await verifyThroughApi(again);
      assert.deepEqual(result.problems, []);
      assert.ok(result.checked >= events.length);
      await again.svc.stop();

      // Once a checkpoint exists, an unkeyed chain is an attack, not an old version: left as it is.
      const store2 = new SqliteStore(join(dir, 'lapse.db'));
      let p2 = GENESIS_HASH;
      for (const e of events) {
        const h = legacyHashAuditEvent(p2, { ...e, dataText: canonicalJson(e.data) });
        store2.execRaw('UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?', p2, h, e.seq);
        p2 = h;
      }
      await store2.close();
      const third = await startTestServer({ store: 'sqlite', dir });
      try {
        assert.equal((await verifyThroughApi(third)).ok, false);
      } finally {
        await third.svc.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

}

if (process.env.LAPSE_TEST_STORE !== 'postgres') {
  tamperSuite();
  embeddedOnly();
}
