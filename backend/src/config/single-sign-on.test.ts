// settings.publicUrl and settings.oidc: what a valid section gives, and each mistake refused
// at its place with what to write instead.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from './load.ts';
import { formatConfigErrors } from './yaml-reader.ts';

const EXAMPLE = readFileSync(fileURLToPath(new URL('../../examples/lapse.yaml', import.meta.url)), 'utf8');

/** The example configuration with these lines added to its settings. */
const withSettings = (lines: string) => EXAMPLE.replace('settings:\n', `settings:\n${lines.replace(/^/gm, '  ')}\n`);

function errors(text: string): string[] {
  const result = parseConfig(text, 'lapse.yaml');
  assert.equal(result.ok, false, 'expected errors');
  return result.ok ? [] : formatConfigErrors(result.errors).split('\n');
}

test('a full oidc section, and the defaults', () => {
  const full = parseConfig(withSettings([
    'publicUrl: https://lapse.example.com/',
    'oidc:',
    '  issuer: https://example.okta.com',
    '  clientId: 0oa1lapse',
    '  clientSecretEnv: LAPSE_OIDC_SECRET',
    '  scopes: [openid, email, profile, groups]',
    '  claims: { groups: roles, attributes: { team: department } }',
    '  allowedEmailDomains: [Example.com]',
    '  allowedGroups: [engineering]',
    '  provisionUsers: true',
    '  sessionIdle: 2h',
    '  sessionMaxAge: 1d',
    '  renewEvery: 5m',
    '  authorizationParams: { access_type: offline, prompt: consent }',
    '  stepUp: { maxAge: 5m, acrValues: [phr], amr: [mfa, hwk] }',
    'tokens: { defaultLifetime: 30d, maxLifetime: 90d }',
  ].join('\n')), 'lapse.yaml');
  assert.ok(full.ok, full.ok ? '' : formatConfigErrors(full.errors));
  assert.equal(full.config.settings.publicUrl, 'https://lapse.example.com', 'no trailing slash');
  assert.deepEqual(full.config.settings.oidc, {
    issuer: 'https://example.okta.com', clientId: '0oa1lapse', clientSecret: { env: 'LAPSE_OIDC_SECRET' }, scopes: ['openid', 'email', 'profile', 'groups'],
    claims: { email: 'email', name: 'name', groups: 'roles', manager: 'manager', attributes: { team: 'department' } },
    allowedEmailDomains: ['example.com'], allowedGroups: ['engineering'], provisionUsers: true, sessionIdleMs: 2 * 3_600_000, sessionMaxAgeMs: 86_400_000,
    renewEveryMs: 5 * 60_000, authorizationParams: { access_type: 'offline', prompt: 'consent' }, stepUp: { maxAgeMs: 5 * 60_000, acrValues: ['phr'], amr: ['mfa', 'hwk'] },
  });
  assert.deepEqual(full.config.settings.tokens, { defaultLifetimeMs: 30 * 86_400_000, maxLifetimeMs: 90 * 86_400_000 });
  const minimal = parseConfig(withSettings('publicUrl: http://127.0.0.1:7420\noidc: { issuer: "http://localhost:9000", clientId: lapse }'), 'lapse.yaml');
  assert.ok(minimal.ok, minimal.ok ? '' : formatConfigErrors(minimal.errors));
  assert.deepEqual(minimal.config.settings.oidc, {
    issuer: 'http://localhost:9000', clientId: 'lapse', clientSecret: null, scopes: ['openid', 'email', 'profile'],
    claims: { email: 'email', name: 'name', groups: 'groups', manager: 'manager', attributes: {} },
    allowedEmailDomains: [], allowedGroups: [], provisionUsers: false, sessionIdleMs: 12 * 3_600_000, sessionMaxAgeMs: 7 * 86_400_000,
    renewEveryMs: 15 * 60_000, authorizationParams: {}, stepUp: { maxAgeMs: 10 * 60_000, acrValues: [], amr: [] },
  });
  assert.equal(minimal.config.settings.tokens, undefined, 'the built-in lifetimes (90d, at most 366d)');
});

test('renewal, authorization parameters, step-up and token lifetimes: mistakes at their line', () => {
  const sso = (lines: string) => withSettings(`publicUrl: https://lapse.example.com\noidc:\n  issuer: https://idp.example.com\n  clientId: lapse\n${lines.replace(/^/gm, '  ')}`);
  const cases: Array<[string, RegExp]> = [
    ['renewEvery: 10s', /settings\.oidc\.renewEvery: expected a duration of at least 1m; got "10s"/],
    ['authorizationParams: { max_age: 0 }', /settings\.oidc\.authorizationParams\.max_age: "max_age" is set by Lapse itself \(a step-up asks for it: see stepUp\); leave it out/],
    ['authorizationParams: { redirect_uri: "https://evil.example" }', /authorizationParams\.redirect_uri: "redirect_uri" is set by Lapse itself; leave it out/],
    ['stepUp: { maxAge: 30s }', /settings\.oidc\.stepUp\.maxAge: expected a duration from 1m to 1d/],
    ['stepUp: { maxAge: 5m, acr: [phr] }', /settings\.oidc\.stepUp\.acr: unknown key "acr"; expected one of maxAge, acrValues, amr/],
  ];
  for (const [lines, expected] of cases) {
    const found = errors(sso(lines));
    assert.ok(found.some((e) => expected.test(e)), `${expected}\n${found.join('\n')}`);
  }
  const lifetimes: Array<[string, RegExp]> = [
    ['tokens: { maxLifetime: 10y }', /settings\.tokens\.maxLifetime/],
    ['tokens: { maxLifetime: 30m }', /settings\.tokens\.maxLifetime: expected a duration from 1h to/],
    ['tokens: { defaultLifetime: 200d, maxLifetime: 100d }', /settings\.tokens\.defaultLifetime: the default lifetime \(200d\) is longer than maxLifetime \(100d\)/],
  ];
  for (const [lines, expected] of lifetimes) {
    const found = errors(withSettings(lines));
    assert.ok(found.some((e) => expected.test(e)), `${expected}\n${found.join('\n')}`);
  }
  const flow = errors(EXAMPLE.replace('settings: { labels: [demo], maxExtensions: 2 }', 'settings: { labels: [demo], maxExtensions: 2, stepUp: { maxAge: 5m } }'));
  assert.ok(flow.some((e) => /flows\[\d\]\.settings\.stepUp: a step-up applies to flows that require MFA: add requireMfa: true/.test(e)), flow.join('\n'));
});

test('mistakes, each at its line with what to do', () => {
  const inline = errors(withSettings('publicUrl: https://lapse.example.com\noidc: { issuer: "https://idp.example.com", clientId: lapse, clientSecret: "hunter2" }'));
  assert.ok(inline.some((e) => /settings\.oidc\.clientSecret: "clientSecret" would hold a secret inline; give it by reference instead: clientSecretEnv .* or clientSecretFile/.test(e)), inline.join('\n'));
  assert.ok(inline.every((e) => !e.includes('hunter2')), 'the secret is not repeated in the error');
  const noUrl = errors(withSettings('oidc: { issuer: "https://idp.example.com", clientId: lapse }'));
  assert.ok(noUrl.some((e) => /settings\.oidc: single sign-on needs settings\.publicUrl/.test(e)), noUrl.join('\n'));
  const http = errors(withSettings('publicUrl: http://lapse.example.com\noidc: { issuer: "http://idp.example.com", clientId: lapse }'));
  assert.ok(http.some((e) => /settings\.publicUrl: expected an https URL \(plain http only on 127\.0\.0\.1 or localhost\)/.test(e)), http.join('\n'));
  assert.ok(http.some((e) => /settings\.oidc\.issuer: expected an https URL/.test(e)), http.join('\n'));
  const both = errors(withSettings('publicUrl: https://l.example.com\noidc: { issuer: "https://i.example.com", clientId: l, clientSecretEnv: A, clientSecretFile: /b }'));
  assert.ok(both.some((e) => /give the client secret one way/.test(e)), both.join('\n'));
  const scopes = errors(withSettings('publicUrl: https://l.example.com\noidc: { issuer: "https://i.example.com", clientId: l, scopes: [email] }'));
  assert.ok(scopes.some((e) => /the scopes must include "openid"/.test(e)), scopes.join('\n'));
  const odd = errors(withSettings('publicUrl: "https://u:p@l.example.com/?q=1"\noidc: { issuer: "https://i.example.com/#x", clientId: l, allowedEmailDomains: ["@example.com"], sessionIdle: 8d }'));
  for (const expected of [/publicUrl: the URL holds credentials/, /issuer: expected .* without a query or fragment/, /allowedEmailDomains\[0\]: expected an email domain/, /sessionIdle: the idle lifetime cannot be longer than sessionMaxAge/]) {
    assert.ok(odd.some((e) => expected.test(e)), `${expected}\n${odd.join('\n')}`);
  }
  const unknown = errors(withSettings('publicUrl: https://l.example.com\noidc: { issuer: "https://i.example.com", clientId: l, clientSecretEnvironment: X }'));
  assert.ok(unknown.some((e) => /unknown key "clientSecretEnvironment"; expected one of issuer, clientId, clientSecret, clientSecretEnv, clientSecretFile/.test(e)), unknown.join('\n'));
});
