// The `redis` integration: one temporary ACL user per request.
//
// Configuration (`connection`, all optional):
//   host: 127.0.0.1            port: 6379
//   user: default              # the ACL user Lapse connects as; it needs +acl, +client|kill, +ping
//   passwordEnv / passwordFile # that user's password, by reference
//   rolePrefix: lapse_      # the name of every ACL user Lapse creates starts with this
//   timeout: 5s                # connect and command timeout
//   accessHost / accessPort    # what the requester is told to connect to (default host/port)
//   permissions:               # per permission: which keys (read | write | readwrite) and commands
//     read:  { keys: read,      commands: ["+@read", "-@dangerous"] }
//     write: { keys: readwrite, commands: ["+@read", "+@write", "-@dangerous"] }
//
// Resources are key prefixes declared in the configuration (resource type `key-prefix`):
// the resource name is the prefix. A grant runs
//
//   ACL SETUSER <prefix><user>_<short id> reset on ><random password> resetchannels
//       &lapse-owned:<integration id>      (the ownership marker, see ownershipMarker)
//       %R~<escaped prefix>*   (read)   |   ~<escaped prefix>*   (readwrite)   …per entitlement
//       <the commands of every permission granted>
//       -@admin -keys -scan -randomkey -dbsize -info …  (REDIS_DENIED_RULES, always last)
//
// where the escaped prefix has `\` put before each of `* ? [ ] \`, so that a prefix is matched
// literally and cannot widen the pattern; a prefix with white space or control characters is
// refused (an ACL file would split it into two rules). Each argument is sent as one argument
// of the protocol, never spliced into a command line.
//
// Key patterns cannot hold back a command that names no key, so the rules end with the denial
// of every command that tells key names or key counts that way (SCAN, KEYS, RANDOMKEY,
// DBSIZE, INFO, MEMORY STATS…) and of server administration (see REDIS_DENIED_COMMANDS): no
// permission can undo them, and a `+` rule that names one is an error. Key patterns are the
// same in every database: where a permission allows SELECT, a grant reaches its prefixes in
// every database, and nothing else there.
//
// Revoke turns the user off, kills its connections (`CLIENT KILL USER`) and deletes it
// (`ACL DELUSER`); both are idempotent. Every request gets its own user, so revoking one
// request never touches another's access.

import { Redis } from 'ioredis';
import type { ResourceConfig } from '../domain/config.ts';
import type { Entitlement } from '../domain/request.ts';
import { accountName, DEFAULT_ACCOUNT_PREFIX, randomPassword } from './account-name.ts';
import { errorText, redactedExcerpt } from './credentials.ts';
import type { DiscoveredResource, GrantedEntry, GrantInput, GrantResult, GrantSubject, HealthReport, Integration, RevokeInput } from './integration.ts';
import { DEFAULT_REDIS_PERMISSIONS, REDIS_COMMAND_RULE, REDIS_DENIED_RULES, redisCommandRuleProblem, type RedisKeyAccess, type RedisPermissionRules } from './redis-permissions.ts';

export interface RedisConnection {
  host: string;
  port: number;
  user?: string;
  password?: string;
  rolePrefix?: string;
  timeoutMs?: number;
  accessHost?: string;
  accessPort?: number;
  permissions?: Record<string, RedisPermissionRules>;
}

const KEY_PATTERN_PREFIX: Record<RedisKeyAccess, string> = { read: '%R~', write: '%W~', readwrite: '~' };

/** A key prefix as a glob matched literally: `\` before each of `* ? [ ] \`. */
export function escapeKeyPrefix(prefix: string): string {
  if (prefix === '') throw new Error('a key prefix may not be empty');
  if (/[\s\p{Cc}]/u.test(prefix)) throw new Error(`key prefix ${JSON.stringify(prefix)} contains white space or control characters, which an ACL rule cannot hold`);
  return prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function unescapeKeyPattern(pattern: string): string {
  return pattern.replace(/\\(.)/g, '$1');
}

/**
 * Redis keeps no comment on a user, so the users Lapse creates carry a marker: permission on
 * one pub/sub channel named after the integration (harmless: the default permissions grant no
 * pub/sub command). Only users with the prefix and this marker are listed or removed.
 */
export function ownershipMarker(integrationId: string): string {
  return `&lapse-owned:${integrationId.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}`;
}

/** The ACL SETUSER rules (after the user name) for one grant. */
export function aclRules(password: string, entitlements: Entitlement[], permissions: Record<string, RedisPermissionRules>, marker?: string): string[] {
  const keyRules: string[] = [];
  const commandRules: string[] = [];
  for (const e of entitlements) {
    const rules = permissions[e.permission];
    if (!rules) throw new Error(`permission "${e.permission}" is not configured for this redis integration; known: ${Object.keys(permissions).join(', ')}`);
    const rule = `${KEY_PATTERN_PREFIX[rules.keys]}${escapeKeyPrefix(e.resource)}*`;
    if (!keyRules.includes(rule)) keyRules.push(rule);
    for (const c of rules.commands) {
      if (!REDIS_COMMAND_RULE.test(c)) throw new Error(`"${c}" is not an ACL command rule`);
      const problem = redisCommandRuleProblem(c);
      if (problem) throw new Error(`permission "${e.permission}": ${problem}`);
      commandRules.push(c);
    }
  }
  // Last, so that no rule of a permission (a category such as +@read or +@all) undoes them.
  return ['reset', 'on', `>${password}`, 'resetchannels', ...(marker ? [marker] : []), ...keyRules, ...commandRules, ...REDIS_DENIED_RULES];
}

export interface RedisIntegrationOptions {
  clock?: { now(): number };
  resources?: ResourceConfig[];
}

export class RedisIntegration implements Integration {
  readonly type = 'redis';
  private readonly client: Redis;
  private readonly prefix: string;
  private readonly permissions: Record<string, RedisPermissionRules>;
  private readonly now: () => number;
  private lastConnectionError: string | null = null;

  constructor(
    readonly id: string,
    private readonly connection: RedisConnection,
    private readonly opts: RedisIntegrationOptions = {},
  ) {
    this.prefix = connection.rolePrefix ?? DEFAULT_ACCOUNT_PREFIX;
    this.permissions = connection.permissions ?? { ...DEFAULT_REDIS_PERMISSIONS };
    this.now = () => (opts.clock ?? Date).now();
    const timeout = connection.timeoutMs ?? 5000;
    this.client = new Redis({
      host: connection.host,
      port: connection.port,
      username: connection.user,
      password: connection.password,
      lazyConnect: true,
      // The ready check runs INFO, which an ACL-only admin user need not be allowed.
      enableReadyCheck: false,
      connectTimeout: timeout,
      commandTimeout: timeout,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 100, 1000),
    });
    // Connection errors surface as failed commands, which name the last one (a timeout
    // alone would not say why).
    this.client.on('error', (err: Error) => {
      this.lastConnectionError = err.message;
    });
    this.client.on('ready', () => {
      this.lastConnectionError = null;
    });
  }

  accountOf(requestId: string, user: GrantSubject): string {
    return accountName(this.prefix, user.id, requestId);
  }

  private async call(...args: string[]): Promise<unknown> {
    try {
      return await this.client.call(args[0]!, ...args.slice(1));
    } catch (err) {
      const cause = this.client.status !== 'ready' && this.lastConnectionError ? ` (cannot connect: ${this.lastConnectionError})` : '';
      throw new Error(`redis ${this.connection.host}:${this.connection.port}: ${args.slice(0, 2).join(' ')} failed: ${redactedExcerpt(errorText(err), [this.connection.password])}${cause}`);
    }
  }

  async grant(input: GrantInput): Promise<GrantResult> {
    const account = this.accountOf(input.requestId, input.user);
    const password = randomPassword();
    const rules = aclRules(password, input.entitlements, this.permissions, ownershipMarker(this.id));
    // A user with this name that Lapse did not create is never taken over.
    const existing = await this.userInfo(account);
    if (existing && !this.isOwned(existing)) throw new Error(`ACL user "${account}" exists and was not created by this integration; refusing to change it`);
    await this.call('ACL', 'SETUSER', account, ...rules);
    const host = this.connection.accessHost ?? this.connection.host;
    const port = this.connection.accessPort ?? this.connection.port;
    return {
      accessDetails: {
        host,
        port: String(port),
        user: account,
        password,
        url: `redis://${encodeURIComponent(account)}:${encodeURIComponent(password)}@${host.includes(':') ? `[${host}]` : host}:${port}`,
      },
    };
  }

  async revoke(input: RevokeInput): Promise<void> {
    // One user per request: what another request covers lives in that request's own user.
    await this.removeAccount(this.accountOf(input.requestId, input.user));
  }

  /** GETUSER as a map of its fields; null when there is no such user. */
  private async userInfo(account: string): Promise<Map<string, unknown> | null> {
    const info = (await this.call('ACL', 'GETUSER', account)) as unknown[] | null;
    if (info === null) return null;
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < info.length; i += 2) fields.set(String(info[i]), info[i + 1]);
    return fields;
  }

  private isOwned(fields: Map<string, unknown>): boolean {
    return String(fields.get('channels') ?? '').split(' ').includes(ownershipMarker(this.id));
  }

  async removeAccount(account: string): Promise<void> {
    if (!account.startsWith(this.prefix)) throw new Error(`refusing to remove ACL user "${account}": it does not start with this integration's prefix "${this.prefix}"`);
    const info = await this.userInfo(account);
    if (info === null) return;
    if (!this.isOwned(info)) throw new Error(`refusing to remove ACL user "${account}": it was not created by this integration (no ownership marker)`);
    // Off first, so nobody authenticates between the kill and the delete.
    await this.call('ACL', 'SETUSER', account, 'off', 'resetpass');
    await this.call('CLIENT', 'KILL', 'USER', account).catch((err: Error) => {
      if (!/no such user/i.test(err.message)) throw err;
    });
    await this.call('ACL', 'DELUSER', account);
  }

  async listGranted(): Promise<GrantedEntry[]> {
    const users = (await this.call('ACL', 'USERS')) as string[];
    const out: GrantedEntry[] = [];
    for (const account of users) {
      if (!account.startsWith(this.prefix)) continue;
      const fields = await this.userInfo(account);
      if (fields === null || !this.isOwned(fields)) continue;
      const keys = String(fields.get('keys') ?? '').split(' ').filter((k) => k !== '');
      const user = account.slice(this.prefix.length, account.lastIndexOf('_'));
      for (const pattern of keys) {
        const m = /^(%R~|%W~|%RW~|~)(.*)\*$/.exec(pattern);
        const access: RedisKeyAccess = m?.[1] === '%R~' ? 'read' : m?.[1] === '%W~' ? 'write' : 'readwrite';
        const permission = Object.entries(this.permissions).find(([, rules]) => rules.keys === access)?.[0] ?? access;
        out.push({
          user,
          account,
          requestId: null,
          entitlement: { integration: this.id, resourceType: 'key-prefix', resource: m ? unescapeKeyPattern(m[2]!) : pattern, permission },
        });
      }
      if (keys.length === 0) out.push({ user, account, requestId: null, entitlement: { integration: this.id, resourceType: 'key-prefix', resource: '', permission: 'none' } });
    }
    return out;
  }

  async listResources(): Promise<DiscoveredResource[]> {
    return (this.opts.resources ?? []).map((r) => ({ type: r.type, name: r.name, ...(r.parent ? { parent: r.parent } : {}), tags: r.tags }));
  }

  async health(): Promise<HealthReport> {
    const checkedAt = this.now();
    try {
      // Lists ACL users: proves the connection and the right to manage ACL users.
      await this.call('ACL', 'USERS');
      return { ok: true, checkedAt, error: null };
    } catch (err) {
      return { ok: false, checkedAt, error: redactedExcerpt(errorText(err), [this.connection.password]) };
    }
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
