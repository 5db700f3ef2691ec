// The `command` integration: grant and revoke by running a configured executable.
//
// Configuration (`connection`):
//   path: /usr/local/bin/grant-access   (required) an absolute path to an executable
//   args: [--system, billing]           fixed arguments; default []
//   timeout: 30s                        per run; default 30s. On timeout the process is killed.
//   env: { REGION: eu }                 extra environment variables (fixed strings); default {}
//   secretEnv / secretFile              optional: a secret handed to the process as the
//                                       environment variable LAPSE_COMMAND_SECRET
//   list: false                         true: the executable also answers action "list"
//   listResources: false                true: the executable also answers action "resources"
//                                       (discovery: services/discovery.ts)
//
// The executable runs without a shell (`spawn` with an argument list): nothing from a
// request ever becomes an argument or an environment variable. The request arrives as one
// JSON document on stdin (payload.ts: action, integration, requestId, user, entitlements,
// expiresAt / stillCovered), followed by end of input. Exit status 0 is success; for a
// grant, stdout may be `{ "accessDetails": { "k": "v" } }` (string values only). Any other
// exit status, a signal or the timeout is a failure, reported with the end of stderr as a
// redacted excerpt (credentials.ts: the configured secret removed in any shape, at most 300
// characters, on one line). Its environment is PATH, HOME (from Lapse's own environment),
// the configured `env`, and LAPSE_COMMAND_SECRET.
//
// With `list: true`, listGranted runs it with `{ "action": "list", "integration": "<id>" }`
// and expects `{ "granted": [ { "user", "resourceType", "resource", "permission",
// "requestId"? } ] }` on stdout; otherwise listGranted is empty.
//
// With `listResources: true`, discovery runs it with `{ "action": "resources", "integration":
// "<id>" }` and expects `{ "resources": [ { "type", "name", "parent"?, "tags"?, "comment"? } ] }`
// (tags: string values; comment: read for a `lapse:` line); otherwise the integration offers
// its declared resources only.

import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { ResourceConfig } from '../domain/config.ts';
import { redactedExcerpt } from './credentials.ts';
import { accessDetailsFrom, grantPayload, revokePayload } from './payload.ts';
import type { DiscoveredResource, GrantedEntry, GrantInput, GrantResult, HealthReport, Integration, RevokeInput } from './integration.ts';

export interface CommandConnection {
  path: string;
  args?: string[];
  timeoutMs?: number;
  env?: Record<string, string>;
  secret?: string;
  list?: boolean;
  listResources?: boolean;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
const MAX_OUTPUT = 1024 * 1024;
/** How much of the end of stderr is kept for the error. */
const MAX_STDERR = 8192;

export interface CommandIntegrationOptions {
  clock?: { now(): number };
  resources?: ResourceConfig[];
  /** Lapse's environment, for PATH and HOME (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export class CommandIntegration implements Integration {
  readonly type = 'command';

  constructor(
    readonly id: string,
    private readonly connection: CommandConnection,
    private readonly opts: CommandIntegrationOptions = {},
  ) {}

  private run(action: string, payload: Record<string, unknown>): Promise<string> {
    const c = this.connection;
    const timeoutMs = c.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const own = this.opts.env ?? process.env;
    const env: Record<string, string> = {};
    if (own.PATH !== undefined) env.PATH = own.PATH;
    if (own.HOME !== undefined) env.HOME = own.HOME;
    Object.assign(env, c.env ?? {});
    if (c.secret !== undefined) env.LAPSE_COMMAND_SECRET = c.secret;
    const where = `command ${action} (${c.path})`;
    return new Promise((resolve, reject) => {
      const child = spawn(c.path, c.args ?? [], { env, shell: false, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let stderrCut = false;
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        if (stdout.length < MAX_OUTPUT) stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (stderr.length > MAX_STDERR) {
          stderr = stderr.slice(-MAX_STDERR);
          stderrCut = true;
        }
      });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      const errText = () => {
        const t = redactedExcerpt(stderr, [c.secret], { truncated: stderrCut });
        return t ? `; stderr: ${t}` : '';
      };
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(`${where} could not start: ${err.code ?? err.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) reject(new Error(`${where} timed out after ${timeoutMs} ms and was killed${errText()}`));
        else if (code === 0) resolve(stdout);
        else reject(new Error(`${where} failed: ${code !== null ? `exit status ${code}` : `killed by ${signal}`}${errText()}`));
      });
      // A process that exits without reading its input closes the pipe: not an error in itself.
      child.stdin.on('error', () => undefined);
      child.stdin.end(JSON.stringify(payload) + '\n');
    });
  }

  async grant(input: GrantInput): Promise<GrantResult> {
    return { accessDetails: accessDetailsFrom(await this.run('grant', grantPayload(this.id, input))) };
  }

  async revoke(input: RevokeInput): Promise<void> {
    await this.run('revoke', revokePayload(this.id, input));
  }

  async listGranted(): Promise<GrantedEntry[]> {
    if (!this.connection.list) return [];
    const out = await this.run('list', { action: 'list', integration: this.id });
    let parsed: unknown;
    try {
      parsed = JSON.parse(out);
    } catch {
      throw new Error(`command list (${this.connection.path}): stdout is not JSON`);
    }
    const granted = (parsed as { granted?: unknown }).granted;
    if (!Array.isArray(granted)) throw new Error(`command list (${this.connection.path}): expected { "granted": [...] } on stdout`);
    return granted.flatMap((g: Record<string, unknown>) => {
      if (typeof g !== 'object' || g === null) return [];
      const str = (k: string) => (typeof g[k] === 'string' ? (g[k] as string) : null);
      const user = str('user'), resourceType = str('resourceType'), resource = str('resource'), permission = str('permission');
      if (user === null || resourceType === null || resource === null || permission === null) return [];
      return [{ user, requestId: str('requestId'), entitlement: { integration: this.id, resourceType, resource, permission } }];
    });
  }

  get discovers(): boolean {
    return this.connection.listResources === true;
  }

  async listResources(): Promise<DiscoveredResource[]> {
    if (!this.connection.listResources) return (this.opts.resources ?? []).map((r) => ({ type: r.type, name: r.name, ...(r.parent ? { parent: r.parent } : {}), tags: r.tags }));
    const where = `command resources (${this.connection.path})`;
    const out = await this.run('resources', { action: 'resources', integration: this.id });
    let parsed: unknown;
    try {
      parsed = JSON.parse(out);
    } catch {
      throw new Error(`${where}: stdout is not JSON`);
    }
    const list = (parsed as { resources?: unknown } | null)?.resources;
    if (!Array.isArray(list)) throw new Error(`${where}: expected { "resources": [...] } on stdout`);
    return list.map((item: unknown, i) => {
      const r = item as Record<string, unknown> | null;
      const at = `${where}: resources[${i}]`;
      if (typeof r !== 'object' || r === null) throw new Error(`${at}: expected an object`);
      if (typeof r.type !== 'string' || r.type === '') throw new Error(`${at}.type: expected a resource type`);
      if (typeof r.name !== 'string' || r.name === '' || r.name.includes('/')) throw new Error(`${at}.name: expected a name without "/"`);
      if (r.parent !== undefined && (typeof r.parent !== 'string' || r.parent === '')) throw new Error(`${at}.parent: expected a resource path`);
      const tags = r.tags ?? {};
      if (typeof tags !== 'object' || tags === null || Array.isArray(tags) || Object.values(tags).some((v) => typeof v !== 'string')) throw new Error(`${at}.tags: expected { key: "value" }`);
      if (r.comment !== undefined && r.comment !== null && typeof r.comment !== 'string') throw new Error(`${at}.comment: expected text`);
      return { type: r.type, name: r.name, ...(typeof r.parent === 'string' ? { parent: r.parent } : {}), tags: tags as Record<string, string>, comment: (r.comment as string | null | undefined) ?? null };
    });
  }

  async health(): Promise<HealthReport> {
    const checkedAt = (this.opts.clock ?? Date).now();
    try {
      await access(this.connection.path, constants.X_OK);
      return { ok: true, checkedAt, error: null };
    } catch (err) {
      return { ok: false, checkedAt, error: `command ${this.connection.path} is not an executable file (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
  }

  async close(): Promise<void> {}
}
