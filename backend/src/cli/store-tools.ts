// The tools on a server's store: `lapse token` and `lapse audit verify` offline (on a data
// directory or a store URL), `lapse audit export` from a running server, and `lapse
// migrate-store` (an embedded store copied into an empty PostgreSQL database).

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Store } from '../store/store.ts';
import { apiClient, need, UsageError, type Values, type Verb } from './args.ts';
import { jsonText, printTable } from './format.ts';
import { auditModules, serviceModule } from './lazy-modules.ts';
import { KNOWN_USERS_KEY } from '../services/offboarding.ts';
import { TOKEN_LIFETIMES_KEY } from '../services/token-service.ts';
import { DEFAULT_TOKEN_LIFETIMES, type TokenLifetimes } from '../domain/config.ts';

/** The store an offline verb works on: --store, else --data-dir's SQLite file, else LAPSE_DATABASE_URL. */
async function offlineStore(v: Values): Promise<Store> {
  const { openStore, openStoreSpec } = await serviceModule();
  if (v.store) return openStoreSpec(v.store, v['data-dir'] ?? '.');
  if (v['data-dir']) return openStore(v['data-dir']);
  if (process.env.LAPSE_DATABASE_URL) return openStoreSpec(process.env.LAPSE_DATABASE_URL, '.');
  throw new UsageError('--data-dir DIR (or --store URL) is required');
}

export const token: Verb = async ([sub, arg], v, o) => {
  const store = await offlineStore(v);
  await store.migrate();
  try {
    if (sub === 'create') {
      const user = need(v.user, '--user ID');
      // The users the server knew at its last start or reload: a token for anyone else would never work.
      const known = await store.getMeta(KNOWN_USERS_KEY);
      if (known === null) throw new UsageError(`the store has no list of users yet: start the server once with this ${v.store ? '--store' : '--data-dir'}, then create tokens`);
      if (!(JSON.parse(known) as string[]).includes(user)) throw new UsageError(`unknown user "${user}": not a user of the configuration the server last loaded`);
      const { createToken, tokenExpiry } = await import('../auth/tokens.ts');
      const now = Date.now();
      // The lifetimes of the configuration the server last loaded (settings.tokens).
      const lifetimes = await store.getMeta(TOKEN_LIFETIMES_KEY);
      let expiresAt: number | null;
      try {
        expiresAt = tokenExpiry(v['expires-in'], 'personal', lifetimes === null ? DEFAULT_TOKEN_LIFETIMES : (JSON.parse(lifetimes) as TokenLifetimes), now);
      } catch (err) {
        throw new UsageError(`--expires-in: ${(err as Error).message}`);
      }
      const { token } = await createToken(store, user, v.name ?? `cli token for ${user}`, now, { expiresAt });
      o.data(token);
      return 0;
    }
    if (sub === 'list') {
      const list = await store.listTokens(v.user);
      if (v.json) o.data(jsonText(list, 2));
      else printTable(o.line, ['id', 'user', 'name', 'kind', 'created', 'expires', 'last used', 'revoked'], list.map((t) => [
        t.id, t.userId, t.name, t.kind, new Date(t.createdAt).toISOString(), t.expiresAt ? new Date(t.expiresAt).toISOString() : 'never',
        t.lastUsedAt ? new Date(t.lastUsedAt).toISOString() : '-', t.revokedAt ? new Date(t.revokedAt).toISOString() : '-',
      ]));
      return 0;
    }
    if (sub === 'revoke') {
      const id = need(arg, 'TOKEN_ID');
      if (!(await store.revokeToken(id, Date.now()))) {
        o.line(`no active token ${id}`);
        return 1;
      }
      await store.appendAudit([{ at: Date.now(), actor: 'cli', action: 'token.revoked', requestId: null, data: { tokenId: id } }]);
      o.line(`token ${id} revoked`);
      return 0;
    }
    throw new UsageError('expected: lapse token create|list|revoke');
  } finally {
    await store.close();
  }
};

export const audit: Verb = async ([sub], v, o) => {
  if (sub === 'verify') {
    let result: { ok: boolean; checked: number; problems: { seq: number; problem: string }[]; checkpoint: { seq: number; at: string | number } | null };
    if (v['data-dir'] || v.store) {
      // Offline: the key and the checkpoint of the server's data directory (LAPSE_SECRET_KEY may give the key).
      const dataDir = v['data-dir'];
      const { auditKeyFor } = await serviceModule();
      const { AUDIT_CHECKPOINT_FILE, readCheckpoint, verifyAuditChain } = await auditModules();
      const key = auditKeyFor(dataDir ?? '.', process.env, { create: false });
      const checkpoint = dataDir
        ? readCheckpoint(join(dataDir, AUDIT_CHECKPOINT_FILE), key)
        : { checkpoint: null, problem: 'no --data-dir: the chain\'s end was not compared with the checkpoint kept outside the database (give a server\'s data directory)' };
      const store = await offlineStore(v);
      await store.migrate();
      try { result = await verifyAuditChain(store, key, checkpoint); } finally { await store.close(); }
    } else {
      result = await apiClient(v).get<typeof result>('/api/v1/audit/verify');
    }
    const at = (t: string | number) => (typeof t === 'number' ? new Date(t).toISOString() : t);
    if (v.json) o.data(jsonText(result, 2));
    else if (result.ok) o.line(`audit chain ok: ${result.checked} events verified${result.checkpoint ? `, up to and beyond the checkpoint of event ${result.checkpoint.seq} (${at(result.checkpoint.at)})` : ''}`);
    else {
      o.line(`audit chain BROKEN: ${result.problems.length} problem(s) in ${result.checked} events`);
      for (const pr of result.problems) o.line(`  event ${pr.seq}: ${pr.problem}`);
    }
    return result.ok ? 0 : 1;
  }
  if (sub === 'export') {
    const api = apiClient(v);
    const qs = new URLSearchParams();
    if (v.since) qs.set('since', v.since);
    if (v.until) qs.set('until', v.until);
    if ((v.format ?? 'csv') === 'csv') {
      o.data((await api.text(`/api/v1/reports/activity.csv?${qs}`)).trimEnd());
      return 0;
    }
    let afterSeq = 0;
    for (;;) {
      const page = await api.get<{ events: { seq: number }[] }>(`/api/v1/audit?limit=5000&afterSeq=${afterSeq}${v.since ? `&since=${encodeURIComponent(v.since)}` : ''}${v.until ? `&until=${encodeURIComponent(v.until)}` : ''}`);
      for (const e of page.events) o.data(jsonText(e));
      if (page.events.length < 5000) return 0;
      afterSeq = page.events[page.events.length - 1]!.seq;
    }
  }
  throw new UsageError('expected: lapse audit verify | audit export');
};

export const migrateStoreVerb: Verb = async (_args, v, o) => {
  const from = need(v.from, '--from sqlite:PATH');
  const to = need(v.to, '--to postgres://…');
  const { auditKeyFor, isPostgresUrl, STORE_FILE } = await serviceModule();
  if (!from.startsWith('sqlite:')) throw new UsageError(`--from must be sqlite:PATH (the embedded store's file, e.g. sqlite:./data/${STORE_FILE}), got ${from}`);
  if (!isPostgresUrl(to)) throw new UsageError('--to must be a postgres:// URL');
  const path = from.slice('sqlite:'.length);
  if (!existsSync(path)) throw new UsageError(`--from: no such file ${path}`);
  const { PostgresStore } = await import('../store/postgres-store.ts');
  const { redactStoreUrl } = await import('../store/postgres-connection.ts');
  const { migrateStore } = await import('../store/migrate-store.ts');
  const { SqliteStore } = await import('../store/sqlite-store.ts');
  const { AUDIT_CHECKPOINT_FILE, resealLegacyChain } = await auditModules();
  // The audit chain's key: the source server's (LAPSE_SECRET_KEY, or its data directory's secret.key).
  const auditKey = auditKeyFor(dirname(path), process.env, { create: false });
  const source = new SqliteStore(path, { auditKey });
  const target = new PostgresStore(to, { auditKey });
  try {
    // A chain an older version wrote without a key is sealed first, as the server does at start.
    await source.migrate();
    if (!existsSync(join(dirname(path), AUDIT_CHECKPOINT_FILE))) await resealLegacyChain(source, auditKey);
    const report = await migrateStore(source, target, auditKey);
    if (v.json) o.data(jsonText(report, 2));
    else {
      o.line(`copied to ${redactStoreUrl(to)}: ${Object.entries(report.copied).map(([t, n]) => `${t} ${n}`).join(', ')}`);
      o.line(`audit chain ok on the target: ${report.auditEvents} events verified`);
    }
    return 0;
  } finally {
    await source.close();
    await target.close();
  }
};
