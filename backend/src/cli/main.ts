// The `lapse` command line: the server, offline tools that work on a data directory
// (tokens, config check, audit verify) and client verbs against a running server.

import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Store } from '../store/store.ts';
import { ApiClient, ApiError } from './client.ts';
import { expiryText, jsonText, output, parseEntitlement, printRequest, printTable, relative, type Output } from './format.ts';

// What only some verbs need is loaded by those verbs: `lapse --help` and the client verbs
// start without the server, its store drivers or the configuration loader.
const serviceModule = () => import('../service.ts');
const configModule = () => import('../config/load.ts');
const auditModules = async () => ({ ...(await import('../audit/checkpoint.ts')), ...(await import('../audit/verify.ts')) });

const USAGE = `lapse — just-in-time access

Server and offline tools:
  lapse server --config FILE --data-dir DIR [--port N] [--host H] [--store postgres://…]
                                     (store: --store or LAPSE_DATABASE_URL; default SQLite in the data dir)
  lapse config check FILE            validate a configuration; every error with file:line:column
  lapse config schema                print the JSON Schema of the configuration file
  lapse config reload                ask the running server to re-read its configuration (admin)
  lapse token create --user ID --data-dir DIR [--name TEXT]
  lapse token list --data-dir DIR [--user ID]
  lapse token revoke TOKEN_ID --data-dir DIR
  lapse audit verify [--data-dir DIR]  verify the audit hash chain (offline with --data-dir or --store)
  lapse migrate-store --from sqlite:PATH --to postgres://…
                                     copy an embedded store into an empty PostgreSQL database
  (token and audit verify take --store URL instead of --data-dir for a PostgreSQL store)

Client (server from --url or LAPSE_URL, default http://127.0.0.1:7420; token from --token or LAPSE_TOKEN):
  lapse catalog                                   what you may request now
  lapse request FLOW [--entitlement I/TYPE:RESOURCE#PERMISSION ...] [--bundle ID]
                [--duration 1h] [--justification TEXT] [--start-at ISO] [--mfa CODE] [--break-glass]
  lapse status [REQUEST_ID] [--all] [--status S]  your requests, or one in detail
  lapse approvals                                 requests waiting for your decision
  lapse approve|deny REQUEST_ID [--reason TEXT]
  lapse revoke REQUEST_ID [--reason TEXT]
  lapse cancel REQUEST_ID
  lapse extend REQUEST_ID --duration 30m [--justification TEXT]
  lapse mark-revoke-canceled REQUEST_ID --reason TEXT   (admin)
  lapse favorites [list | add --name N FLOW ... | save REQUEST_ID [--name N] | request FAVORITE_ID | delete FAVORITE_ID]
  lapse revoke-all [--user ID] [--flow ID] [--integration ID] [--label L] [--reason TEXT]   (admin)
  lapse audit export [--format csv|json] [--since ISO] [--until ISO]   (admin)
  lapse reconcile                                 remove what Lapse created on the targets that no
                                                  active request covers, and list it (admin)
  lapse integrations                              each integration's type and health

  lapse watch [--state FILE]                      show notifications as they happen (desktop notifications)

Every client verb takes --json for machine-readable output.`;

const OPTIONS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  store: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  user: { type: 'string' },
  name: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  entitlement: { type: 'string', multiple: true },
  bundle: { type: 'string' },
  duration: { type: 'string' },
  justification: { type: 'string' },
  'start-at': { type: 'string' },
  mfa: { type: 'string' },
  'break-glass': { type: 'boolean' },
  reason: { type: 'string' },
  flow: { type: 'string' },
  integration: { type: 'string' },
  label: { type: 'string' },
  status: { type: 'string' },
  all: { type: 'boolean' },
  format: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  state: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export class UsageError extends Error {}

/** Runs one command; `write` takes one line at a time (human lines arrive escaped, see Output). */
export async function main(argv: string[], write: (line: string) => void = (s) => process.stdout.write(s + '\n')): Promise<number> {
  const o = output(write);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals: p } = parsed;
  const verb = p[0];
  if (!verb || v.help || verb === 'help') {
    o.data(USAGE); // the CLI's own text, in one write (`lapse --help | head` stays quiet)
    return 0;
  }
  switch (verb) {
    case 'server': return server(v);
    case 'config': return config(p[1], p[2], v, o);
    case 'token': return token(p[1], p[2], v, o);
    case 'audit': return audit(p[1], v, o);
    case 'watch': return watchVerb(v, o);
    case 'migrate-store': return migrateStoreVerb(v, o);
    default: return client(verb, p.slice(1), v, o);
  }
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`${what} is required`);
  return value;
}

async function server(v: Values): Promise<number> {
  const port = Number(v.port ?? '7420');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0 picks a free one), got ${v.port}`);
  const { startService } = await serviceModule();
  const service = await startService({ configPath: need(v.config, '--config FILE'), dataDir: need(v['data-dir'], '--data-dir DIR'), port, host: v.host, store: v.store });
  process.stderr.write(`listening on ${service.url}\n`);
  process.on('SIGHUP', () => void service.reload());
  await new Promise<void>((resolve) => {
    const shutdown = () => {
      process.stderr.write('shutting down\n');
      service.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
  return 0;
}

async function config(sub: string | undefined, file: string | undefined, v: Values, o: Output): Promise<number> {
  if (sub === 'check') {
    const path = need(file, 'the configuration FILE');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      o.line(`${path}:1:1: cannot read the file: ${(err as Error).message}`);
      return 1;
    }
    const { formatConfigErrors, parseConfig } = await configModule();
    const result = parseConfig(text, path);
    if (!result.ok) {
      for (const line of formatConfigErrors(result.errors).split('\n')) o.line(line);
      o.line(`${result.errors.length} error${result.errors.length === 1 ? '' : 's'}`);
      return 1;
    }
    const c = result.config;
    o.line(`${path}: ok — ${c.users.length} users, ${c.integrations.length} integrations, ${c.bundles.length} bundles, ${c.flows.length} flows`);
    return 0;
  }
  if (sub === 'schema') {
    const { configJsonSchema } = await import('../config/json-schema.ts');
    o.data(jsonText(configJsonSchema, 2));
    return 0;
  }
  if (sub === 'reload') {
    const api = apiClient(v);
    await api.post('/api/v1/admin/config/reload', {});
    o.line('configuration reloaded');
    return 0;
  }
  throw new UsageError('expected: lapse config check FILE | config schema | config reload');
}

/** The store an offline verb works on: --store, else --data-dir's SQLite file, else LAPSE_DATABASE_URL. */
async function offlineStore(v: Values): Promise<Store> {
  const { openStore, openStoreSpec } = await serviceModule();
  if (v.store) return openStoreSpec(v.store, v['data-dir'] ?? '.');
  if (v['data-dir']) return openStore(v['data-dir']);
  if (process.env.LAPSE_DATABASE_URL) return openStoreSpec(process.env.LAPSE_DATABASE_URL, '.');
  throw new UsageError('--data-dir DIR (or --store URL) is required');
}

async function migrateStoreVerb(v: Values, o: Output): Promise<number> {
  const from = need(v.from, '--from sqlite:PATH');
  const to = need(v.to, '--to postgres://…');
  const { auditKeyFor, isPostgresUrl, STORE_FILE } = await serviceModule();
  if (!from.startsWith('sqlite:')) throw new UsageError(`--from must be sqlite:PATH (the embedded store's file, e.g. sqlite:./data/${STORE_FILE}), got ${from}`);
  if (!isPostgresUrl(to)) throw new UsageError('--to must be a postgres:// URL');
  const path = from.slice('sqlite:'.length);
  if (!existsSync(path)) throw new UsageError(`--from: no such file ${path}`);
  const { PostgresStore, redactStoreUrl } = await import('../store/postgres-store.ts');
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
}

async function token(sub: string | undefined, arg: string | undefined, v: Values, o: Output): Promise<number> {
  const store = await offlineStore(v);
  await store.migrate();
  try {
    if (sub === 'create') {
      const user = need(v.user, '--user ID');
      const { createToken } = await import('../auth/tokens.ts');
      const { token } = await createToken(store, user, v.name ?? `cli token for ${user}`);
      o.data(token);
      return 0;
    }
    if (sub === 'list') {
      const list = await store.listTokens(v.user);
      if (v.json) o.data(jsonText(list, 2));
      else printTable(o.line, ['id', 'user', 'name', 'created', 'last used', 'revoked'], list.map((t) => [
        t.id, t.userId, t.name, new Date(t.createdAt).toISOString(), t.lastUsedAt ? new Date(t.lastUsedAt).toISOString() : '-', t.revokedAt ? new Date(t.revokedAt).toISOString() : '-',
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
}

async function audit(sub: string | undefined, v: Values, o: Output): Promise<number> {
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
}

async function watchVerb(v: Values, o: Output): Promise<number> {
  const api = apiClient(v);
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const { defaultStateFile, nodeNotifier, watch } = await import('./watch.ts');
  return watch({ api, token: apiToken(v), stateFile: v.state ?? defaultStateFile(api.baseUrl), notify: await nodeNotifier(), out: o.line, stop });
}

function apiToken(v: Values): string {
  const token = v.token ?? process.env.LAPSE_TOKEN;
  if (!token) throw new UsageError('a token is required: --token TOKEN or LAPSE_TOKEN (make one with `lapse token create --user ID --data-dir DIR`)');
  return token;
}

function apiClient(v: Values): ApiClient {
  const url = v.url ?? process.env.LAPSE_URL ?? 'http://127.0.0.1:7420';
  const token = v.token ?? process.env.LAPSE_TOKEN;
  if (!token) throw new UsageError('a token is required: --token TOKEN or LAPSE_TOKEN (make one with `lapse token create --user ID --data-dir DIR`)');
  return new ApiClient(url, token);
}

type RequestJson = Parameters<typeof printRequest>[1];

async function client(verb: string, args: string[], v: Values, o: Output): Promise<number> {
  const api = apiClient(v);
  const emit = (data: unknown, human: () => void) => (v.json ? o.data(jsonText(data, 2)) : human());
  switch (verb) {
    case 'catalog': {
      const data = await api.get<{ flows: { id: string; name: string; available: boolean; reason: string | null; approval: string; defaultDuration: string; maxDuration: string; entitlements: unknown[]; bundles: { id: string }[] }[] }>('/api/v1/catalog');
      emit(data, () => printTable(o.line, ['flow', 'available', 'approval', 'duration', 'max', 'entitlements', 'bundles'], data.flows.map((f) => [
        f.id, f.available ? 'yes' : `no: ${f.reason}`, f.approval, f.defaultDuration, f.maxDuration, String(f.entitlements.length), f.bundles.map((b) => b.id).join(', ') || '-',
      ])));
      return 0;
    }
    case 'request': {
      const flowId = need(args[0], 'FLOW');
      const body: Record<string, unknown> = { flowId };
      if (v.entitlement?.length) body.entitlements = v.entitlement.map(parseEntitlement);
      if (v.bundle) body.bundleId = v.bundle;
      if (v.duration) body.duration = v.duration;
      if (v.justification) body.justification = v.justification;
      if (v['start-at']) body.startAt = v['start-at'];
      if (v.mfa) body.mfaCode = v.mfa;
      if (v['break-glass']) body.breakGlass = true;
      if (!body.entitlements && !body.bundleId) {
        // Without a choice: everything the flow offers.
        const catalog = await api.get<{ flows: { id: string; entitlements: unknown[] }[] }>('/api/v1/catalog');
        const flow = catalog.flows.find((f) => f.id === flowId);
        if (!flow) throw new UsageError(`flow "${flowId}" is not in your catalog (lapse catalog lists it)`);
        body.entitlements = flow.entitlements;
      }
      const r = await api.post<RequestJson>('/api/v1/requests', body);
      emit(r, () => printRequest(o.line, r));
      return 0;
    }
    case 'status': {
      if (args[0]) {
        const r = await api.get<RequestJson>(`/api/v1/requests/${encodeURIComponent(args[0])}`);
        emit(r, () => printRequest(o.line, r));
        return 0;
      }
      const qs = new URLSearchParams({ mine: v.all ? 'false' : 'true' });
      if (v.status) qs.set('status', v.status);
      const data = await api.get<{ requests: RequestJson[] }>(`/api/v1/requests?${qs}`);
      emit(data, () => printTable(o.line, ['id', 'requester', 'flow', 'status', 'expires', 'entitlements'], data.requests.map((r) => [
        r.id, r.requester, r.flowId, r.status, expiryText(r), String(r.entitlements.length),
      ])));
      return 0;
    }
    case 'approvals': {
      const data = await api.get<{ approvals: RequestJson[] }>('/api/v1/approvals');
      emit(data, () => printTable(o.line, ['id', 'requester', 'flow', 'duration', 'justification', 'why you'], data.approvals.map((r) => [
        r.id, r.requester, r.flowId, r.pendingExtension ? `extend +${r.pendingExtension.duration}` : r.duration, r.justification ?? '-', r.yourApproverRoles.join('; '),
      ])));
      return 0;
    }
    case 'approve': case 'deny': case 'revoke': case 'mark-revoke-canceled': {
      const id = need(args[0], 'REQUEST_ID');
      const r = await api.post<RequestJson>(`/api/v1/requests/${encodeURIComponent(id)}/${verb}`, v.reason ? { reason: v.reason } : {});
      emit(r, () => printRequest(o.line, r));
      return 0;
    }
    case 'cancel': {
      const r = await api.post<RequestJson>(`/api/v1/requests/${encodeURIComponent(need(args[0], 'REQUEST_ID'))}/cancel`, {});
      emit(r, () => printRequest(o.line, r));
      return 0;
    }
    case 'extend': {
      const body: Record<string, unknown> = { duration: need(v.duration, '--duration') };
      if (v.justification) body.justification = v.justification;
      const r = await api.post<RequestJson>(`/api/v1/requests/${encodeURIComponent(need(args[0], 'REQUEST_ID'))}/extend`, body);
      emit(r, () => printRequest(o.line, r));
      return 0;
    }
    case 'favorites': {
      const sub = args[0] ?? 'list';
      if (sub === 'list') {
        const data = await api.get<{ favorites: { id: string; name: string; flowId: string; duration: string }[]; suggestions: { requestId: string; flowId: string; duration: string }[] }>('/api/v1/favorites');
        emit(data, () => {
          printTable(o.line, ['favorite', 'name', 'flow', 'duration'], data.favorites.map((f) => [f.id, f.name, f.flowId, f.duration]));
          if (data.suggestions.length) {
            o.line('');
            o.line('recent (save with `lapse favorites save REQUEST_ID`):');
            printTable(o.line, ['request', 'flow', 'duration'], data.suggestions.map((s) => [s.requestId, s.flowId, s.duration]));
          }
        });
        return 0;
      }
      if (sub === 'add') {
        const body: Record<string, unknown> = { name: need(v.name, '--name'), flowId: need(args[1], 'FLOW') };
        if (v.entitlement?.length) body.entitlements = v.entitlement.map(parseEntitlement);
        if (v.bundle) body.bundleId = v.bundle;
        if (v.duration) body.duration = v.duration;
        if (v.justification) body.justification = v.justification;
        const f = await api.post<{ id: string; name: string }>('/api/v1/favorites', body);
        emit(f, () => o.line(`saved favorite ${f.id} (${f.name})`));
        return 0;
      }
      if (sub === 'save') {
        const f = await api.post<{ id: string; name: string }>('/api/v1/favorites', { fromRequestId: need(args[1], 'REQUEST_ID'), ...(v.name ? { name: v.name } : {}) });
        emit(f, () => o.line(`saved favorite ${f.id} (${f.name})`));
        return 0;
      }
      if (sub === 'request') {
        const body: Record<string, unknown> = {};
        if (v.justification) body.justification = v.justification;
        if (v.mfa) body.mfaCode = v.mfa;
        const r = await api.post<RequestJson>(`/api/v1/favorites/${encodeURIComponent(need(args[1], 'FAVORITE_ID'))}/request`, body);
        emit(r, () => printRequest(o.line, r));
        return 0;
      }
      if (sub === 'delete') {
        await api.delete(`/api/v1/favorites/${encodeURIComponent(need(args[1], 'FAVORITE_ID'))}`);
        o.line('deleted');
        return 0;
      }
      throw new UsageError('expected: lapse favorites list|add|save|request|delete');
    }
    case 'revoke-all': {
      const body: Record<string, unknown> = {};
      for (const k of ['user', 'flow', 'integration', 'label', 'reason'] as const) if (v[k]) body[k] = v[k];
      const result = await api.post<{ revoked: string[]; failed: { id: string; error: string }[] }>('/api/v1/admin/revoke-all', body);
      emit(result, () => {
        o.line(`revoking ${result.revoked.length} request(s)`);
        for (const f of result.failed) o.line(`  could not revoke ${f.id}: ${f.error}`);
      });
      return result.failed.length ? 1 : 0;
    }
    case 'reconcile': {
      interface Report {
        integrations: { integration: string; listed: number; fixed: number; failed: number; error: string | null }[];
        fixes: { integration: string; account: string | null; user: string; entitlements: string[]; ok: boolean; error: string | null }[];
      }
      const report = await api.post<Report>('/api/v1/admin/reconcile', {});
      emit(report, () => {
        for (const i of report.integrations) {
          o.line(`${i.integration}: ${i.error ? `not reconciled: ${i.error}` : `${i.listed} listed, ${i.fixed} removed${i.failed ? `, ${i.failed} failed` : ''}`}`);
        }
        for (const f of report.fixes) {
          o.line(`  ${f.ok ? 'removed' : 'FAILED to remove'} ${f.account ?? `${f.user}'s`} on ${f.integration}: ${f.entitlements.join(', ')}${f.error ? ` (${f.error})` : ''}`);
        }
      });
      return report.fixes.some((f) => !f.ok) || report.integrations.some((i) => i.error) ? 1 : 0;
    }
    case 'integrations': {
      const result = await api.get<{ integrations: { id: string; type: string; health: { ok: boolean; checkedAt: string | null; error: string | null } }[] }>('/api/v1/integrations?check=true');
      emit(result, () => {
        for (const i of result.integrations) o.line(`${i.id} (${i.type}): ${i.health.ok ? 'ok' : `UNHEALTHY: ${i.health.error}`}`);
      });
      return result.integrations.every((i) => i.health.ok) ? 0 : 1;
    }
    default:
      throw new UsageError(`unknown command "${verb}"; see lapse --help`);
  }
}

export async function run(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    // Errors carry the server's problem detail and the arguments given: escaped like any human line.
    const e = output((s) => process.stderr.write(s + '\n'));
    if (err instanceof UsageError) {
      e.line(`lapse: ${err.message}`);
      e.line('(see lapse --help)');
    } else if (err instanceof ApiError) e.line(`lapse: ${err.message}`);
    else if (err instanceof (await configModule()).ConfigInvalidError) for (const line of err.message.split('\n')) e.line(line);
    else e.line(`lapse: ${(err as Error).message ?? String(err)}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
