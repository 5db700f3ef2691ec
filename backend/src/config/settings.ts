// The `settings` section: admins, expiry warnings, the reconcile, health-check and discovery
// intervals, which proxies to trust, the public address, single sign-on, offboarding and the
// lifetimes of API tokens, and how long the events stream's past is kept.

import { isIP } from 'node:net';
import { DEFAULT_TOKEN_LIFETIMES, MAX_EVENT_RETENTION_MS, type ServerSettings, type TokenLifetimes } from '../domain/config.ts';
import { formatDuration } from '../../../common/duration.ts';
import { userRef, type Reader } from './yaml-reader.ts';
import { readOidc, readPublicUrl } from './single-sign-on.ts';

const DEFAULT_EXPIRY_WARNINGS = [10 * 60_000, 60_000];

export function defaultSettings(): ServerSettings {
  return { admins: [], expiryWarnings: [...DEFAULT_EXPIRY_WARNINGS] };
}

export function readSettings(r: Reader, node: unknown, path: string): ServerSettings | undefined {
  const f = r.map(node, path, ['admins?', 'expiryWarnings?', 'reconcileEvery?', 'healthCheckEvery?', 'discoverEvery?', 'trustProxy?', 'publicUrl?', 'oidc?', 'offboarding?', 'tokens?', 'pendingTimeout?', 'remindApproversEvery?', 'eventRetention?']);
  if (f === undefined) return undefined;
  const admins = f.has('admins') ? r.list(f.get('admins'), f.at('admins'), (n, p) => userRef(r, n, p)) : [];
  const warnings = f.has('expiryWarnings') ? r.list(f.get('expiryWarnings'), f.at('expiryWarnings'), (n, p) => r.duration(n, p)) : [...DEFAULT_EXPIRY_WARNINGS];
  const reconcileEvery = f.has('reconcileEvery') ? (r.scalar(f.get('reconcileEvery')) === 'off' ? null : atLeastSeconds(r, f.get('reconcileEvery'), f.at('reconcileEvery'), ', or "off"')) : undefined;
  const healthCheckEvery = f.has('healthCheckEvery') ? atLeastSeconds(r, f.get('healthCheckEvery'), f.at('healthCheckEvery'), '') : undefined;
  const discoverEvery = f.has('discoverEvery') ? atLeastSeconds(r, f.get('discoverEvery'), f.at('discoverEvery'), '') : undefined;
  if (admins === undefined || warnings === undefined) return undefined;
  if (f.has('discoverEvery') && discoverEvery === undefined) return undefined;
  const trustProxy = f.has('trustProxy') ? readTrustProxy(r, f.get('trustProxy'), f.at('trustProxy')) : undefined;
  if ((f.has('reconcileEvery') && reconcileEvery === undefined) || (f.has('healthCheckEvery') && healthCheckEvery === undefined)) return undefined;
  if (f.has('trustProxy') && trustProxy === undefined) return undefined;
  const publicUrl = f.has('publicUrl') ? readPublicUrl(r, f.get('publicUrl'), f.at('publicUrl')) : undefined;
  const oidc = f.has('oidc') ? readOidc(r, f.get('oidc'), f.at('oidc')) : undefined;
  if (f.has('oidc') && !f.has('publicUrl')) return r.error(f.get('oidc'), f.at('oidc'), 'single sign-on needs settings.publicUrl, the address people use (its redirect URI is <publicUrl>/auth/callback)');
  if ((f.has('publicUrl') && publicUrl === undefined) || (f.has('oidc') && oidc === undefined)) return undefined;
  const offboarding = f.has('offboarding') ? r.oneOf(f.get('offboarding'), f.at('offboarding'), ['revoke', 'suspend'] as const) : undefined;
  if (f.has('offboarding') && offboarding === undefined) return undefined;
  const tokens = f.has('tokens') ? readTokenLifetimes(r, f.get('tokens'), f.at('tokens')) : undefined;
  if (f.has('tokens') && tokens === undefined) return undefined;
  const pendingTimeout = f.has('pendingTimeout') ? readWait(r, f.get('pendingTimeout'), f.at('pendingTimeout'), 60_000) : undefined;
  const remindEvery = f.has('remindApproversEvery') ? readWait(r, f.get('remindApproversEvery'), f.at('remindApproversEvery'), 60_000) : undefined;
  if ((f.has('pendingTimeout') && pendingTimeout === undefined) || (f.has('remindApproversEvery') && remindEvery === undefined)) return undefined;
  const eventRetention = f.has('eventRetention') ? readEventRetention(r, f.get('eventRetention'), f.at('eventRetention')) : undefined;
  if (f.has('eventRetention') && eventRetention === undefined) return undefined;
  const settings: ServerSettings = { admins, expiryWarnings: [...new Set(warnings)].sort((a, b) => b - a) };
  if (reconcileEvery !== undefined) settings.reconcileEvery = reconcileEvery;
  if (healthCheckEvery !== undefined) settings.healthCheckEvery = healthCheckEvery;
  if (discoverEvery !== undefined) settings.discoverEvery = discoverEvery;
  if (trustProxy !== undefined) settings.trustProxy = trustProxy;
  if (publicUrl !== undefined) settings.publicUrl = publicUrl;
  if (oidc !== undefined) settings.oidc = oidc;
  if (offboarding !== undefined) settings.offboarding = offboarding;
  if (tokens !== undefined) settings.tokens = tokens;
  if (eventRetention !== undefined) settings.eventRetention = eventRetention;
  if (pendingTimeout !== undefined) settings.pendingTimeoutMs = pendingTimeout;
  if (remindEvery !== undefined) settings.remindApproversEveryMs = remindEvery;
  return settings;
}

/** A wait of at least `minMs` (at most a year), or "off" (null): a pending timeout or a reminder interval. */
export function readWait(r: Reader, node: unknown, path: string, minMs: number): number | null | undefined {
  if (r.scalar(node) === 'off') return null;
  const ms = r.duration(node, path);
  if (ms === undefined) return undefined;
  if (ms < minMs || ms > 366 * 86_400_000) return r.error(node, path, `expected a duration from ${formatDuration(minMs)} to 366d, or "off"; got ${JSON.stringify(r.scalar(node))}`);
  return ms;
}

/** `eventRetention`: how long the events stream's past is kept for replay, from 1m to 30d. */
function readEventRetention(r: Reader, node: unknown, path: string): number | undefined {
  const ms = r.duration(node, path);
  if (ms !== undefined && (ms < 60_000 || ms > MAX_EVENT_RETENTION_MS)) return r.error(node, path, `expected a duration from 1m to 30d; got ${JSON.stringify(r.scalar(node))}`);
  return ms;
}

/** The longest any token may live, whatever the settings say. */
const TOKEN_LIFETIME_CEILING_MS = 5 * 366 * 86_400_000;

/** `tokens: { defaultLifetime, maxLifetime }`: each at least 1h, the default within the maximum, the maximum within 5 years. */
function readTokenLifetimes(r: Reader, node: unknown, path: string): TokenLifetimes | undefined {
  const f = r.map(node, path, ['defaultLifetime?', 'maxLifetime?'], 'token lifetimes, { defaultLifetime, maxLifetime }');
  if (f === undefined) return undefined;
  const read = (key: 'defaultLifetime' | 'maxLifetime', fallback: number): number | undefined => {
    if (!f.has(key)) return fallback;
    const ms = r.duration(f.get(key), f.at(key));
    if (ms === undefined) return undefined;
    if (ms < 3_600_000 || ms > TOKEN_LIFETIME_CEILING_MS) return r.error(f.get(key), f.at(key), `expected a duration from 1h to ${formatDuration(TOKEN_LIFETIME_CEILING_MS)}; got ${JSON.stringify(r.scalar(f.get(key)))}`);
    return ms;
  };
  const maxLifetimeMs = read('maxLifetime', DEFAULT_TOKEN_LIFETIMES.maxLifetimeMs);
  const defaultLifetimeMs = read('defaultLifetime', Math.min(DEFAULT_TOKEN_LIFETIMES.defaultLifetimeMs, maxLifetimeMs ?? Infinity));
  if (maxLifetimeMs === undefined || defaultLifetimeMs === undefined) return undefined;
  if (defaultLifetimeMs > maxLifetimeMs) return r.error(f.get('defaultLifetime'), f.at('defaultLifetime'), `the default lifetime (${formatDuration(defaultLifetimeMs)}) is longer than maxLifetime (${formatDuration(maxLifetimeMs)})`);
  return { defaultLifetimeMs, maxLifetimeMs };
}

/** `trustProxy`: true or false, a number of hops (1-16), or a list of addresses and CIDR ranges. */
function readTrustProxy(r: Reader, node: unknown, path: string): boolean | number | string[] | undefined {
  const value = r.scalar(node);
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 1 && value <= 16) return value;
    return r.error(node, path, `expected a number of proxy hops from 1 to 16; got ${value}`);
  }
  const list = r.listOrOne(node, path, (n, p) => {
    const text = r.name(n, p, 'an IP address or CIDR range, e.g. 10.0.0.5 or 10.0.0.0/8');
    if (text === undefined) return undefined;
    const problem = addressRangeProblem(text);
    return problem ? r.error(n, p, problem) : text;
  });
  if (list !== undefined && list.length === 0) return r.error(node, path, 'expected at least one address; to trust no proxy, leave trustProxy out or set it to false');
  return list;
}

/** Why `text` is not an IP address or a CIDR range (address/prefix length), or null. */
function addressRangeProblem(text: string): string | null {
  const [address, bits, ...rest] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return `expected an IP address or CIDR range, e.g. 10.0.0.5 or 10.0.0.0/8; got ${JSON.stringify(text)}`;
  if (bits === undefined) return null;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `expected a prefix length from 0 to ${max} after "/"; got ${JSON.stringify(text)}`;
  return null;
}

/** A duration of at least 10 s (a sweep or check more often than that would only load the targets). */
function atLeastSeconds(r: Reader, node: unknown, path: string, alternatives: string): number | undefined {
  const ms = r.duration(node, path);
  if (ms !== undefined && ms < 10_000) return r.error(node, path, `expected a duration of at least 10s${alternatives}; got ${JSON.stringify(r.scalar(node))}`);
  return ms;
}
