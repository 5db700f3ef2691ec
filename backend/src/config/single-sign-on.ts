// `settings.publicUrl` and `settings.oidc`: where people reach Lapse, and the OpenID
// Provider they sign in with (issuer, client, scopes, claim names, who may sign in, whether
// people are created from their claims, session lifetimes). The client secret is given by
// reference only.

import type { OidcSettings } from '../domain/config.ts';
import type { Reader } from './yaml-reader.ts';

export const DEFAULT_SESSION_IDLE_MS = 12 * 3_600_000;
export const DEFAULT_SESSION_MAX_AGE_MS = 7 * 86_400_000;
const DEFAULT_SCOPES = ['openid', 'email', 'profile'];
const DEFAULT_CLAIMS = { email: 'email', name: 'name', groups: 'groups', manager: 'manager' };
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** An http(s) URL with no user, query or fragment; plain http only on a loopback address (local use and tests). */
function readUrl(r: Reader, node: unknown, path: string, what: string): string | undefined {
  const text = r.name(node, path, `${what}, e.g. https://lapse.example.com`);
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return r.error(node, path, `expected ${what} (an absolute https URL); got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    return r.error(node, path, `expected an https URL (plain http only on 127.0.0.1 or localhost); got ${JSON.stringify(text)}`);
  }
  if (url.username || url.password) return r.error(node, path, 'the URL holds credentials; leave them out');
  if (url.search || url.hash) return r.error(node, path, `expected ${what} without a query or fragment; got ${JSON.stringify(text)}`);
  return text.replace(/\/+$/, '');
}

export function readPublicUrl(r: Reader, node: unknown, path: string): string | undefined {
  return readUrl(r, node, path, 'the address people use to reach Lapse');
}

export function readOidc(r: Reader, node: unknown, path: string): OidcSettings | undefined {
  const f = r.map(node, path, [
    'issuer', 'clientId', 'clientSecret?', 'clientSecretEnv?', 'clientSecretFile?', 'scopes?', 'claims?',
    'allowedEmailDomains?', 'allowedGroups?', 'provisionUsers?', 'sessionIdle?', 'sessionMaxAge?',
  ]);
  if (f === undefined) return undefined;
  const before = r.errorCount();
  const issuer = readUrl(r, f.get('issuer'), f.at('issuer'), 'the OpenID Provider\'s issuer URL');
  const clientId = r.name(f.get('clientId'), f.at('clientId'));
  if (f.has('clientSecret')) r.error(f.get('clientSecret'), f.at('clientSecret'), '"clientSecret" would hold a secret inline; give it by reference instead: clientSecretEnv (an environment variable) or clientSecretFile (a file path)');
  if (f.has('clientSecretEnv') && f.has('clientSecretFile')) r.error(f.get('clientSecretFile'), f.at('clientSecretFile'), 'give the client secret one way: clientSecretEnv or clientSecretFile, not both');
  const secretEnv = f.has('clientSecretEnv') ? r.name(f.get('clientSecretEnv'), f.at('clientSecretEnv'), 'an environment variable name') : undefined;
  const secretFile = f.has('clientSecretFile') ? r.name(f.get('clientSecretFile'), f.at('clientSecretFile'), 'a file path') : undefined;
  const scopes = f.has('scopes') ? r.list(f.get('scopes'), f.at('scopes'), (n, p) => r.name(n, p, 'a scope name')) : [...DEFAULT_SCOPES];
  if (scopes && !scopes.includes('openid')) r.error(f.get('scopes'), f.at('scopes'), 'the scopes must include "openid"');
  const claims = f.has('claims') ? readClaims(r, f.get('claims'), f.at('claims')) : { ...DEFAULT_CLAIMS, attributes: {} };
  const domains = f.has('allowedEmailDomains')
    ? r.list(f.get('allowedEmailDomains'), f.at('allowedEmailDomains'), (n, p) => {
      const d = r.name(n, p, 'an email domain, e.g. example.com');
      return d === undefined ? undefined : /^[A-Za-z0-9.-]+$/.test(d) && !d.startsWith('.') ? d.toLowerCase() : r.error(n, p, `expected an email domain, e.g. example.com; got ${JSON.stringify(d)}`);
    })
    : [];
  const groups = f.has('allowedGroups') ? r.list(f.get('allowedGroups'), f.at('allowedGroups'), (n, p) => r.name(n, p, 'a group name')) : [];
  const provisionUsers = f.has('provisionUsers') ? r.bool(f.get('provisionUsers'), f.at('provisionUsers')) : false;
  const idle = f.has('sessionIdle') ? r.duration(f.get('sessionIdle'), f.at('sessionIdle')) : DEFAULT_SESSION_IDLE_MS;
  const maxAge = f.has('sessionMaxAge') ? r.duration(f.get('sessionMaxAge'), f.at('sessionMaxAge')) : DEFAULT_SESSION_MAX_AGE_MS;
  if (typeof idle === 'number' && typeof maxAge === 'number' && idle > maxAge) r.error(f.get('sessionIdle'), f.at('sessionIdle'), 'the idle lifetime cannot be longer than sessionMaxAge');
  if (r.errorCount() > before || !issuer || !clientId || !scopes || !claims || !domains || !groups || provisionUsers === undefined || typeof idle !== 'number' || typeof maxAge !== 'number') return undefined;
  return {
    issuer, clientId,
    clientSecret: secretEnv ? { env: secretEnv } : secretFile ? { file: secretFile } : null,
    scopes, claims, allowedEmailDomains: domains, allowedGroups: groups, provisionUsers,
    sessionIdleMs: idle, sessionMaxAgeMs: maxAge,
  };
}

function readClaims(r: Reader, node: unknown, path: string): OidcSettings['claims'] | undefined {
  const f = r.map(node, path, ['email?', 'name?', 'groups?', 'manager?', 'attributes?']);
  if (f === undefined) return undefined;
  const claim = (key: 'email' | 'name' | 'groups' | 'manager') => (f.has(key) ? r.name(f.get(key), f.at(key), 'a claim name') : DEFAULT_CLAIMS[key]);
  const attributes = f.has('attributes') ? r.dict(f.get('attributes'), f.at('attributes'), (n, p) => r.name(n, p, 'a claim name')) : {};
  const out = { email: claim('email'), name: claim('name'), groups: claim('groups'), manager: claim('manager'), attributes };
  return out.email && out.name && out.groups && out.manager && attributes ? { ...out, email: out.email, name: out.name, groups: out.groups, manager: out.manager, attributes } : undefined;
}
