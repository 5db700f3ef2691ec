// Embedded mode: no server configured, so the backend runs inside the app on a SQLite file
// in the app's data directory, with the example configuration and the person at the
// keyboard (their OS user name) added as an admin who may request and approve. Its
// environment holds only the variables the configuration names for secrets, and PATH and
// HOME (embedded-env.ts). Plain Node: the app calls it from main, the tests call it directly.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { parseDocument } from 'yaml';
import { startService, type Service } from '../../backend/src/service.ts';
import { createToken } from '../../backend/src/auth/tokens.ts';
import { parseConfig, formatConfigErrors } from '../../backend/src/config/load.ts';
import type { Logger } from '../../backend/src/logger.ts';
import type { Store } from '../../backend/src/store/store.ts';
import { embeddedEnv } from './embedded-env.ts';

/** An OS user name as a Lapse user id: lower case; anything but letters, digits, `.`, `_`, `-` becomes `-`. */
export function userIdFromOsUser(name: string): string {
  const id = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return id || 'me';
}

/**
 * The example configuration with `userId` added: in the requester groups of every example
 * flow (engineering) and in the approvers' group (sre-leads), and first among the admins.
 * Comments of the example are kept, so the file reads as a starting point.
 */
export function embeddedConfig(exampleYaml: string, userId: string, displayName = userId): string {
  const doc = parseDocument(exampleYaml);
  const users = doc.getIn(['identities', 'users']) as { items: unknown[] } | undefined;
  if (!users || !Array.isArray(users.items)) throw new Error('the example configuration has no identities.users list');
  const plain = doc.toJS() as { identities: { users: { id: string }[] }; settings?: { admins?: string[] } };
  const index = plain.identities.users.findIndex((u) => u.id === userId);
  const me = doc.createNode({ id: userId, email: `${userId}@localhost`, name: displayName, groups: ['engineering', 'sre-leads'] });
  (me as { flow?: boolean }).flow = true;
  if (index >= 0) doc.setIn(['identities', 'users', index], me);
  else users.items.unshift(me);
  const admins = plain.settings?.admins ?? [];
  doc.setIn(['settings', 'admins'], [userId, ...admins.filter((a) => a !== userId)]);
  const text = doc.toString();
  const check = parseConfig(text, 'embedded.yaml');
  if (!check.ok) throw new Error(`the embedded configuration is invalid:\n${formatConfigErrors(check.errors)}`);
  return text;
}

export interface EmbeddedBackend {
  service: Service;
  url: string;
  token: string;
  userId: string;
  configPath: string;
  /** Revokes that fell due while the app was closed, run at this start. */
  overdueRevokes: number;
  stop(): Promise<void>;
}

/**
 * How many of the access that lapsed before `startedAt` were ended at this start (or are
 * being ended): expired since `startedAt`, or still active or revoking past their expiry.
 */
export async function countOverdueRevokes(store: Pick<Store, 'listRequests'>, startedAt: number): Promise<number> {
  const rows = await store.listRequests({ statuses: ['active', 'revoking', 'expired'], limit: 1000 });
  return rows.filter((r) => r.expiresAt !== null && r.expiresAt < startedAt && (r.status !== 'expired' || (r.endedAt !== null && r.endedAt >= startedAt))).length;
}

/**
 * Starts the backend in this process on `<dir>/data` with `<dir>/lapse.yaml` (written from
 * the example on first start; the person may edit it afterwards), listening on the loopback
 * interface only, and makes a token for the person, revoked again at stop.
 */
export async function startEmbedded(opts: { dir: string; exampleConfigPath: string; osUser?: string; logger?: Logger; env?: NodeJS.ProcessEnv }): Promise<EmbeddedBackend> {
  const osUser = opts.osUser ?? userInfo().username;
  const userId = userIdFromOsUser(osUser);
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const configPath = join(opts.dir, 'lapse.yaml');
  if (!existsSync(configPath)) writeFileSync(configPath, embeddedConfig(readFileSync(opts.exampleConfigPath, 'utf8'), userId, osUser), { mode: 0o600 });
  // The variables the configuration names (a file that does not parse: startService says why).
  const parsed = parseConfig(readFileSync(configPath, 'utf8'), configPath);
  const env = embeddedEnv(parsed.ok ? parsed.config : null, opts.env ?? process.env);
  const startedAt = Date.now();
  // One person's notifications, delivered beside the API: the app's main process is one bundle, with no delivery thread's module.
  const service = await startService({ configPath, dataDir: join(opts.dir, 'data'), port: 0, host: '127.0.0.1', logger: opts.logger, env, delivery: { in: 'event-loop' } });
  try {
    const overdueRevokes = await countOverdueRevokes(service.store, startedAt).catch(() => 0);
    const { token, record } = await createToken(service.store, userId, 'desktop app (embedded mode)');
    return {
      service, url: service.url, token, userId, configPath, overdueRevokes,
      async stop() {
        await service.store.revokeToken(record.id, Date.now()).catch(() => false);
        await service.stop();
      },
    };
  } catch (err) {
    await service.stop();
    throw err;
  }
}
