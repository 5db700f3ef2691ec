// `lapse server` (reloads on SIGHUP, stops on SIGTERM or SIGINT) and `lapse config`: check a
// configuration file, print its JSON Schema, ask a running server to reload.

import { readFileSync } from 'node:fs';
import { apiClient, emitter, need, UsageError, type Verb } from './args.ts';
import { jsonText } from './format.ts';
import { configModule, loggerModule, serviceModule } from './lazy-modules.ts';

export const server: Verb = async (_args, v) => {
  const port = Number(v.port ?? '7420');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0 picks a free one), got ${v.port}`);
  const { createLogger, isLogLevel, LOG_LEVELS } = await loggerModule();
  const level = v['log-level'];
  if (level !== undefined && !isLogLevel(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  const { startService } = await serviceModule();
  const logger = createLogger({ level });
  const service = await startService({ configPath: need(v.config, '--config FILE'), dataDir: need(v['data-dir'], '--data-dir DIR'), port, host: v.host, store: v.store, logger });
  process.stderr.write(`listening on ${service.url}\n`);
  process.on('SIGHUP', () => void service.reload({ by: 'signal' }));
  await new Promise<void>((resolve) => {
    const shutdown = () => {
      process.stderr.write('shutting down\n');
      service.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
  return 0;
};

/** POST /api/v1/admin/config/reload's answer. */
interface ReloadAnswer {
  integrations: { added: string[]; changed: { id: string; parts: string[] }[]; removed: string[] };
  flows: { added: number; removed: number };
  users: { added: number; removed: number };
  revoked: string[];
  leaving: string[];
}

const PART_NAMES: Record<string, string> = { resourceTypes: 'resource types' };

/** What a reload changed, a line each (none: nothing changed). */
export function reloadLines(r: ReloadAnswer): string[] {
  const lines: string[] = [];
  const i = r.integrations;
  if (i.added.length) lines.push(`integrations added: ${i.added.join(', ')}`);
  for (const c of i.changed) lines.push(`integration ${c.id} changed: ${c.parts.map((p) => PART_NAMES[p] ?? p).join(', ')}`);
  if (i.removed.length) lines.push(`integrations removed: ${i.removed.join(', ')}`);
  if (r.revoked.length) lines.push(`revoking ${r.revoked.length} request(s) on removed integrations: ${r.revoked.join(', ')}`);
  if (r.leaving.length) lines.push(`kept until those revokes finish: ${r.leaving.join(', ')}`);
  const counted = (what: string, c: { added: number; removed: number }) => {
    if (c.added || c.removed) lines.push(`${what}: ${c.added} added, ${c.removed} removed`);
  };
  counted('flows', r.flows);
  counted('users', r.users);
  if (lines.length === 0) lines.push('no integration, flow or user added, changed or removed');
  return lines;
}

export const config: Verb = async ([sub, file], v, o) => {
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
    const result = await api.post<ReloadAnswer>('/api/v1/admin/config/reload', v['revoke-removed'] ? { revokeRemoved: true } : {});
    emitter(v, o)(result, () => {
      o.line('configuration reloaded');
      for (const line of reloadLines(result)) o.line(`  ${line}`);
    });
    return 0;
  }
  throw new UsageError('expected: lapse config check FILE | config schema | config reload [--revoke-removed]');
};
