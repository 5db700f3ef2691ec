// What the SQL integrations (postgresql, mysql) share: the name of the temporary login a
// request gets, its password, the ownership marker that tells a Lapse-made login from any
// other, resource paths, and keeping secrets out of error messages.

import { createHash, randomBytes } from 'node:crypto';
import type { Entitlement } from '../../domain/request.ts';
import type { HealthReport } from '../integration.ts';
import { errorText, redactedExcerpt } from '../credentials.ts';

export const DEFAULT_ROLE_PREFIX = 'lapse_';

/** Letters, digits and underscores, starting with a letter or underscore, at most 16 characters. */
const PREFIX_RE = /^[a-z_][a-z0-9_]{0,15}$/;

export function checkRolePrefix(prefix: string, where: string): string {
  if (!PREFIX_RE.test(prefix)) {
    throw new Error(`${where}: role prefix "${prefix}" must be 1-16 lower-case letters, digits or underscores, not starting with a digit`);
  }
  return prefix;
}

/** 8 hex digits derived from the integration and the request: the same request always gets the same login. */
export function shortId(integrationId: string, requestId: string): string {
  return createHash('sha256').update(`${integrationId}\u0000${requestId}`).digest('hex').slice(0, 8);
}

/**
 * The user id reduced to a fragment that is a safe identifier on its own: ASCII letters
 * and digits (accents folded, everything else dropped), lower case, at most `max` characters;
 * "u" when nothing is left. The login stays unique through the short id, not through this.
 */
export function userFragment(userId: string, max: number): string {
  const folded = userId.normalize('NFKD').toLowerCase().replace(/[^a-z0-9]+/g, '');
  return (folded || 'u').slice(0, Math.max(1, max));
}

/** `<prefix><user>_<short id>`, at most `maxLength` characters. */
export function loginName(prefix: string, integrationId: string, requestId: string, userId: string, maxLength: number): string {
  const short = shortId(integrationId, requestId);
  const room = maxLength - prefix.length - 1 - short.length;
  if (room < 1) throw new Error(`role prefix "${prefix}" leaves no room for the user in a ${maxLength}-character login name`);
  return `${prefix}${userFragment(userId, Math.min(room, 24))}_${short}`;
}

/** 32 random characters from [A-Za-z0-9] (about 190 bits): no quoting or URL issues anywhere. */
export function generatePassword(length = 32): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const out: string[] = [];
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      // 248 = 4 * 62: rejecting bytes above it keeps every character equally likely.
      if (b < 248 && out.length < length) out.push(alphabet[b % 62]!);
    }
  }
  return out.join('');
}

/** What a Lapse-made login records about itself (a role comment, or a bookkeeping row). */
export interface LoginMarker {
  request: string;
  integration: string;
  user: string;
  entitlements: { resourceType: string; resource: string; permission: string }[];
}

const MARKER_TAG = 'lapse-access:';

export function encodeMarker(m: LoginMarker): string {
  return MARKER_TAG + JSON.stringify(m);
}

/** The marker in `text`, or null when the text is not one (the login is not Lapse's). */
export function decodeMarker(text: string | null | undefined): LoginMarker | null {
  if (!text || !text.startsWith(MARKER_TAG)) return null;
  try {
    const m = JSON.parse(text.slice(MARKER_TAG.length)) as Partial<LoginMarker>;
    if (typeof m.request !== 'string' || typeof m.integration !== 'string' || typeof m.user !== 'string' || !Array.isArray(m.entitlements)) return null;
    return m as LoginMarker;
  } catch {
    return null;
  }
}

export function markerFor(integrationId: string, requestId: string, userId: string, entitlements: Entitlement[]): LoginMarker {
  return {
    request: requestId,
    integration: integrationId,
    user: userId,
    entitlements: entitlements.map((e) => ({ resourceType: e.resourceType, resource: e.resource, permission: e.permission })),
  };
}

/**
 * Splits a resource path into exactly `parts` names: the last one takes the rest, so a
 * table name may contain "/" while database and schema names may not.
 */
export function splitPath(path: string, parts: number, what: string): string[] {
  const segments = path.split('/');
  if (segments.length < parts || segments.slice(0, parts - 1).some((s) => s === '')) {
    throw new Error(`${what} "${path}" must be a path of ${parts} part(s) separated by "/"`);
  }
  const head = segments.slice(0, parts - 1);
  const last = segments.slice(parts - 1).join('/');
  if (last === '') throw new Error(`${what} "${path}" has an empty name`);
  return [...head, last];
}

/**
 * A new Error carrying only the driver's message as a redacted excerpt (see redactedExcerpt:
 * the secrets removed in any shape, bounded, one line); not the driver's error object,
 * which may hold the query text.
 */
export function cleanError(err: unknown, secrets: (string | undefined)[], context?: string): Error {
  const message = redactedExcerpt(errorText(err), secrets);
  return new Error(context ? `${context}: ${message}` : message);
}

/**
 * Validates a `permissions` map of the connection config: permission name → privileges per
 * level, each privilege from `allowed[level]`. Returns the map merged over the defaults.
 */
export function mergePermissions<L extends string>(
  defaults: Record<string, Record<L, string[]>>,
  configured: unknown,
  allowed: Record<L, readonly string[]>,
  where: string,
): Record<string, Record<L, string[]>> {
  const out: Record<string, Record<L, string[]>> = {};
  for (const [k, v] of Object.entries(defaults)) out[k] = { ...v };
  if (configured === undefined || configured === null) return out;
  if (typeof configured !== 'object' || Array.isArray(configured)) throw new Error(`${where}: must be a map of permission name to privileges`);
  const levels = Object.keys(allowed) as L[];
  for (const [perm, spec] of Object.entries(configured as Record<string, unknown>)) {
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new Error(`${where}.${perm}: must be a map of ${levels.join(', ')} to privilege lists`);
    const base: Record<L, string[]> = out[perm] ? { ...out[perm]! } : (Object.fromEntries(levels.map((l) => [l, []])) as unknown as Record<L, string[]>);
    for (const [level, list] of Object.entries(spec as Record<string, unknown>)) {
      if (!levels.includes(level as L)) throw new Error(`${where}.${perm}.${level}: unknown level (expected one of ${levels.join(', ')})`);
      if (!Array.isArray(list) || list.some((p) => typeof p !== 'string')) throw new Error(`${where}.${perm}.${level}: must be a list of privilege names`);
      const privileges = (list as string[]).map((p) => p.trim().toUpperCase().replace(/\s+/g, ' '));
      for (const p of privileges) {
        if (!allowed[level as L].includes(p)) throw new Error(`${where}.${perm}.${level}: unknown privilege "${p}" (allowed: ${allowed[level as L].join(', ')})`);
      }
      base[level as L] = privileges;
    }
    out[perm] = base;
  }
  return out;
}

/** Runs `fn` again after errors `retryable` accepts, up to `attempts` times, with a short jittered pause. */
export async function withRetry<T>(fn: () => Promise<T>, retryable: (err: unknown) => boolean, attempts = 6): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !retryable(err)) throw err;
      await new Promise((r) => setTimeout(r, 10 * i + Math.random() * 20 * i));
    }
  }
}

/**
 * A health check shared by the SQL integrations: `SELECT 1` must answer within `timeoutMs`;
 * the error, if any, comes without the secrets.
 */
export async function checkHealth(select1: () => Promise<unknown>, checkedAt: number, timeoutMs: number, secrets: (string | undefined)[]): Promise<HealthReport> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      select1(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return { ok: true, checkedAt, error: null };
  } catch (err) {
    return { ok: false, checkedAt, error: redactedExcerpt(errorText(err), secrets) || 'connection failed' };
  } finally {
    clearTimeout(timer);
  }
}
