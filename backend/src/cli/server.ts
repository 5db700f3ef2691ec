// `lapse server` (reloads on SIGHUP, stops on SIGTERM or SIGINT) and `lapse config`: check a
// configuration file, print its JSON Schema, ask a running server to reload.

import { readFileSync } from 'node:fs';
import { apiClient, need, UsageError, type Verb } from './args.ts';
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
};

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
    await api.post('/api/v1/admin/config/reload', {});
    o.line('configuration reloaded');
    return 0;
  }
  throw new UsageError('expected: lapse config check FILE | config schema | config reload');
};
