// `settings.publicUrl` and `settings.oidc`: where people reach Lapse, and the OpenID
// Provider they sign in with (issuer, client, scopes, claim names, who may sign in, whether
// people are created from their claims, session lifetimes, renewal, the step-up that flows
// requiring MFA ask for). The client secret is given by reference only.

import type { OidcSettings, StepUpPolicy } from '../domain/config.ts';
import type { Reader } from './yaml-reader.ts';

export const DEFAULT_SESSION_IDLE_MS = 12 * 3_600_000;
export const DEFAULT_SESSION_MAX_AGE_MS = 7 * 86_400_000;
export const DEFAULT_RENEW_EVERY_MS = 15 * 60_000;
export const DEFAULT_STEP_UP: Readonly<StepUpPolicy> = { maxAgeMs: 10 * 60_000, acrValues: [], amr: [] };
/** Parameters Lapse sets itself (or a step-up does): authorizationParams cannot change them. */
const RESERVED_AUTHORIZATION_PARAMS = new Set([
  'client_id', 'redirect_uri', 'response_type', 'response_mode', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method',
  'max_age', 'acr_values', 'request', 'request_uri', 'claims',
]);
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
    'allowedEmailDomains?', 'allowedGroups?', 'provisionUsers?', 'sessionIdle?', 'sessionMaxAge?', 'renewEvery?', 'authorizationParams?', 'stepUp?',
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
  const renewEvery = f.has('renewEvery') ? r.duration(f.get('renewEvery'), f.at('renewEvery')) : DEFAULT_RENEW_EVERY_MS;
  if (typeof renewEvery === 'number' && renewEvery < 60_000) r.error(f.get('renewEvery'), f.at('renewEvery'), `expected a duration of at least 1m; got ${JSON.stringify(r.scalar(f.get('renewEvery')))}`);
  const params = f.has('authorizationParams')
    ? r.dict(f.get('authorizationParams'), f.at('authorizationParams'), (n, p, key) => {
      if (RESERVED_AUTHORIZATION_PARAMS.has(key)) return r.error(n, p, `"${key}" is set by Lapse itself${key === 'max_age' || key === 'acr_values' ? ' (a step-up asks for it: see stepUp)' : ''}; leave it out`);
      const value = r.scalar(n);
      return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : r.error(n, p, 'expected a text value');
    })
    : {};
  const stepUpGiven = f.has('stepUp') ? readStepUp(r, f.get('stepUp'), f.at('stepUp')) : {};
  const stepUp = stepUpGiven && { ...DEFAULT_STEP_UP, ...stepUpGiven };
  if (r.errorCount() > before || !issuer || !clientId || !scopes || !claims || !domains || !groups || provisionUsers === undefined || typeof idle !== 'number' || typeof maxAge !== 'number'
    || typeof renewEvery !== 'number' || !params || !stepUp) return undefined;
  return {
    issuer, clientId,
    clientSecret: secretEnv ? { env: secretEnv } : secretFile ? { file: secretFile } : null,
    scopes, claims, allowedEmailDomains: domains, allowedGroups: groups, provisionUsers,
    sessionIdleMs: idle, sessionMaxAgeMs: maxAge, renewEveryMs: renewEvery, authorizationParams: params, stepUp,
  };
}

/**
 * A step-up (settings.oidc.stepUp, or a flow's settings.stepUp over it): maxAge (at least 1m,
 * at most 1d), acrValues and amr; only the keys given.
 */
export function readStepUp(r: Reader, node: unknown, path: string): Partial<StepUpPolicy> | undefined {
  const f = r.map(node, path, ['maxAge?', 'acrValues?', 'amr?'], 'a step-up, { maxAge, acrValues, amr }');
  if (f === undefined) return undefined;
  const maxAge = f.has('maxAge') ? r.duration(f.get('maxAge'), f.at('maxAge')) : undefined;
  if (typeof maxAge === 'number' && (maxAge < 60_000 || maxAge > 86_400_000)) {
    return r.error(f.get('maxAge'), f.at('maxAge'), `expected a duration from 1m to 1d (how long ago the person may have authenticated at the provider); got ${JSON.stringify(r.scalar(f.get('maxAge')))}`);
  }
  const acrValues = f.has('acrValues') ? r.listOrOne(f.get('acrValues'), f.at('acrValues'), (n, p) => r.name(n, p, 'an authentication context class, e.g. phr')) : undefined;
  const amr = f.has('amr') ? r.listOrOne(f.get('amr'), f.at('amr'), (n, p) => r.name(n, p, 'an authentication method, e.g. mfa, otp, hwk')) : undefined;
  if ((f.has('maxAge') && maxAge === undefined) || (f.has('acrValues') && !acrValues) || (f.has('amr') && !amr)) return undefined;
  return { ...(maxAge !== undefined ? { maxAgeMs: maxAge } : {}), ...(acrValues ? { acrValues } : {}), ...(amr ? { amr } : {}) };
}

function readClaims(r: Reader, node: unknown, path: string): OidcSettings['claims'] | undefined {
  const f = r.map(node, path, ['email?', 'name?', 'groups?', 'manager?', 'attributes?']);
  if (f === undefined) return undefined;
  const claim = (key: 'email' | 'name' | 'groups' | 'manager') => (f.has(key) ? r.name(f.get(key), f.at(key), 'a claim name') : DEFAULT_CLAIMS[key]);
  const attributes = f.has('attributes') ? r.dict(f.get('attributes'), f.at('attributes'), (n, p) => r.name(n, p, 'a claim name')) : {};
  const out = { email: claim('email'), name: claim('name'), groups: claim('groups'), manager: claim('manager'), attributes };
  return out.email && out.name && out.groups && out.manager && attributes ? { ...out, email: out.email, name: out.name, groups: out.groups, manager: out.manager, attributes } : undefined;
}
