// Who a signed-in person is: claims read through the configured names (odd shapes refused or
// ignored), the allowed domains and groups, the match to a configured user, and the merge.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OidcSettings, UserConfig } from './config.ts';
import { admissionProblem, identityFromClaims, knownUsers, stepUpFor, stepUpProblem, userIdFor, type KnownIdentity } from './sign-in.ts';
import { DEFAULT_FLOW_SETTINGS } from './config.ts';

const settings = (over: Partial<OidcSettings> = {}): OidcSettings => ({
  issuer: 'https://idp.example.com', clientId: 'lapse', clientSecret: null, scopes: ['openid'],
  claims: { email: 'email', name: 'name', groups: 'groups', manager: 'manager', attributes: { team: 'department', level: 'level' } },
  allowedEmailDomains: [], allowedGroups: [], provisionUsers: true, sessionIdleMs: 1, sessionMaxAgeMs: 2,
  renewEveryMs: 60_000, authorizationParams: {}, stepUp: { maxAgeMs: 600_000, acrValues: [], amr: [] }, ...over,
});
const ISS = 'https://idp.example.com';

test('claims through the configured names: email lowercased, groups a list (or one), attributes as text, odd values left out', () => {
  const id = identityFromClaims(settings(), ISS, 's1', {
    email: ' Ann@Example.COM ', name: 'Ann', groups: ['eng', 'eng', 42, null, { x: 1 }, 'ops'], manager: 'bob', department: 'payments', level: 3, email_verified: true,
  });
  assert.deepEqual(id, { issuer: ISS, subject: 's1', email: 'ann@example.com', name: 'Ann', groups: ['eng', '42', 'ops'], manager: 'bob', attributes: { team: 'payments', level: '3' } });
  const one = identityFromClaims(settings({ claims: { ...settings().claims, groups: 'role' } }), ISS, 's2', { email: 'b@example.com', role: 'admins' });
  assert.deepEqual('refused' in one ? null : one.groups, ['admins']);
  assert.deepEqual(identityFromClaims(settings(), ISS, 's3', { name: 'No Mail' }), { refused: 'the identity provider gave no email address (claim "email"); Lapse needs one to know who you are' });
  assert.match((identityFromClaims(settings(), ISS, 's4', { email: 'not an email' }) as { refused: string }).refused, /no email address/);
  assert.match((identityFromClaims(settings(), ISS, 's5', { email: 'c@example.com', email_verified: false }) as { refused: string }).refused, /has not verified/);
});

test('allowed domains and groups', () => {
  const ann = identityFromClaims(settings(), ISS, 's1', { email: 'ann@sub.example.com', groups: ['eng'] });
  if ('refused' in ann) throw new Error(ann.refused);
  assert.equal(admissionProblem(settings(), ann), null, 'no restriction');
  assert.match(admissionProblem(settings({ allowedEmailDomains: ['example.com'] }), ann)!, /domain sub\.example\.com is not allowed/, 'a subdomain is another domain');
  assert.equal(admissionProblem(settings({ allowedEmailDomains: ['sub.example.com'], allowedGroups: ['ops', 'eng'] }), ann), null);
  assert.match(admissionProblem(settings({ allowedGroups: ['ops'] }), ann)!, /none of the groups allowed to sign in \(ops\)/);
});

const configured: UserConfig[] = [{ id: 'alice', email: 'Alice@Example.com', name: 'Alice', groups: ['engineering'], attributes: { team: 'payments' } }];

test('the configured user by email, else the email as id where provisioning is on, else refused', () => {
  const base = { issuer: ISS, subject: 's', name: null, groups: [], manager: null, attributes: {} };
  assert.deepEqual(userIdFor({ ...base, email: 'alice@example.com' }, configured, false), { id: 'alice', configured: true });
  assert.deepEqual(userIdFor({ ...base, email: 'zed@example.com' }, configured, true), { id: 'zed@example.com', configured: false });
  assert.match((userIdFor({ ...base, email: 'zed@example.com' }, configured, false) as { refused: string }).refused, /zed@example\.com is not a Lapse user/);
});

test('known users: the provider\'s groups added to a configured user, provisioned people added, disabled ones and (without provisioning) unconfigured ones left out', () => {
  const ident = (id: string, over: Partial<KnownIdentity> = {}): KnownIdentity => ({
    id, issuer: ISS, subject: id, email: `${id}@example.com`, name: null, groups: ['platform'], manager: 'bob', attributes: { team: 'from-idp', site: 'ber' }, disabledAt: null, ...over,
  });
  const users = knownUsers(configured, [ident('alice'), ident('zed@example.com'), ident('old@example.com', { disabledAt: 5 })], true);
  assert.deepEqual(users.map((u) => u.id), ['alice', 'zed@example.com']);
  assert.deepEqual(users[0], { id: 'alice', email: 'Alice@Example.com', name: 'Alice', groups: ['engineering', 'platform'], attributes: { team: 'payments', site: 'ber' }, manager: 'bob' });
  assert.deepEqual(users[1], { id: 'zed@example.com', email: 'zed@example.com@example.com', name: 'zed@example.com@example.com', groups: ['platform'], attributes: { team: 'from-idp', site: 'ber' }, manager: 'bob' });
  assert.deepEqual(knownUsers(configured, [ident('zed@example.com')], false).map((u) => u.id), ['alice']);
});

test('known users: a configured person the provider refused at renewal (disabled) is left out until they sign in again', () => {
  const alice: KnownIdentity = { id: 'alice', issuer: ISS, subject: 'a', email: 'alice@example.com', name: null, groups: ['platform'], manager: null, attributes: {}, disabledAt: 7 };
  assert.deepEqual(knownUsers(configured, [alice], false).map((u) => u.id), []);
  assert.deepEqual(knownUsers(configured, [{ ...alice, disabledAt: null }], false).map((u) => u.id), ['alice']);
});

test('step-up: the flow\'s own settings over the defaults; a credential too old, of another context class or method, or never authenticated there', () => {
  const policy = stepUpFor(settings({ stepUp: { maxAgeMs: 600_000, acrValues: ['phr'], amr: [] } }), { ...DEFAULT_FLOW_SETTINGS, requireMfa: true, stepUp: { maxAgeMs: 300_000, amr: ['mfa'] } });
  assert.deepEqual(policy, { maxAgeMs: 300_000, acrValues: ['phr'], amr: ['mfa'] });
  const at = 1_000_000_000;
  assert.equal(stepUpProblem(policy, { at, acr: 'phr', amr: ['pwd', 'mfa'] }, at + 299_000), null);
  assert.match(stepUpProblem(policy, { at, acr: 'phr', amr: ['mfa'] }, at + 301_000)!, /5 min ago; this flow needs it within 5 min/);
  assert.match(stepUpProblem(policy, { at, acr: 'pwd-only', amr: ['mfa'] }, at)!, /the context class "pwd-only", not "phr"/);
  assert.match(stepUpProblem(policy, { at, acr: null, amr: ['mfa'] }, at)!, /with no "phr"/);
  assert.match(stepUpProblem(policy, { at, acr: 'phr', amr: ['pwd'] }, at)!, /with pwd, not mfa/);
  assert.match(stepUpProblem(policy, null, at)!, /not made by signing in at the identity provider/);
  // An authentication "from the future" (a clock behind the provider's) is not older than allowed.
  assert.equal(stepUpProblem(policy, { at: at + 5_000, acr: 'phr', amr: ['mfa'] }, at), null);
});
