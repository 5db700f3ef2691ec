// The ID token Lapse accepts, against a real OpenID Provider (oidc-provider on 127.0.0.1):
// the provider does discovery, login, consent and the code, and its token response's ID
// token is rewritten on the way out — claims changed and signed again with the provider's
// own key, signed with a key it does not publish, changed after signing, or unsigned.
// Each is refused with a reason that names the problem, audited, with no session and no
// person created. And the provider's keys rotate: sign-in keeps working, Lapse not restarted.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign, type JsonWebKey } from 'node:crypto';
import type { JWK } from 'oidc-provider';
import { signInAtProvider, startSsoServer, type SsoServer } from './oidc-provider-support.ts';

/** A fresh RSA signing key, as the private JWK a provider is configured with. */
function signingKey(kid: string): JWK {
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return { ...jwk, kid, alg: 'RS256', use: 'sig' } as JWK;
}

type Claims = Record<string, unknown>;
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT's header and claims, unverified. */
function decode(jwt: string): { header: Claims; claims: Claims } {
  const [header = '', claims = ''] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(header, 'base64url').toString()), claims: JSON.parse(Buffer.from(claims, 'base64url').toString()) };
}

/** A JWS (RS256) of `claims` with `key`, the header naming the key's kid. */
function signJwt(claims: Claims, key: JWK, header: Claims = {}): string {
  const input = `${encode({ ...header, alg: 'RS256', kid: key.kid })}.${encode(claims)}`;
  const privateKey = createPrivateKey({ key: key as JsonWebKey, format: 'jwk' });
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

const epoch = () => Math.floor(Date.now() / 1000);
/** A pattern matching `text` as it is. */
const literal = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

// An ID token straight from the token endpoint is the provider's by TLS alone (OpenID Connect
// Core 3.1.3.7): openid-client 6 verifies its signature only with enableNonRepudiationChecks,
// which Lapse applies, so a token not signed by the provider's published keys is refused.

interface Answer {
  status: number;
  /** The reason in the redirect to the portal's sign-in, if refused. */
  reason: string | null;
  cookies: Record<string, string>;
  email: string;
}

let people = 0;
/** A person the provider knows and Lapse has never seen. */
function newPerson(l: SsoServer): { subject: string; email: string } {
  people++;
  const subject = `person-${people}-sub`;
  const email = `person${people}@example.com`;
  l.provider.accounts.set(subject, { email, email_verified: true, name: `Person ${people}`, groups: ['engineering'] });
  return { subject, email };
}

/** A new person signs in through the provider, whose ID token goes through `rewrite` on its way to Lapse; Lapse's answer. */
async function signIn(l: SsoServer, rewrite?: (idToken: string) => string): Promise<Answer> {
  const { subject, email } = newPerson(l);
  const callback = await signInAtProvider(l.url, subject);
  l.provider.rewriteIdToken = rewrite;
  let res: Response;
  try {
    res = await fetch(callback, { redirect: 'manual' });
  } finally {
    l.provider.rewriteIdToken = undefined;
  }
  const cookies = Object.fromEntries(res.headers.getSetCookie().map((line) => {
    const [pair = ''] = line.split(';');
    const eq = pair.indexOf('=');
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  }));
  const location = new URL(res.headers.get('location') ?? '/', l.url);
  return { status: res.status, reason: location.searchParams.get('sign_in_error'), cookies, email };
}

/** Refused with a reason matching `why`: audited with that reason, back at the portal's sign-in, no session, nobody created. */
async function assertRefused(l: SsoServer, answer: Answer, why: RegExp): Promise<string> {
  assert.equal(answer.status, 303);
  assert.ok(answer.reason, 'back at the portal\'s sign-in with the reason');
  assert.match(answer.reason, /^the identity provider's answer was refused: /);
  assert.match(answer.reason, why);
  assert.equal(answer.cookies.lapse_session, undefined, 'no session');
  assert.equal(answer.cookies.lapse_csrf, undefined);
  assert.equal(await l.svc.store.findProvisionedUser(answer.email), null, 'nobody created');
  const refusals = await l.svc.store.listAudit({ action: 'auth.sign_in_refused', limit: 1000 });
  assert.ok(refusals.some((e) => e.data.reason === answer.reason), `audited: ${answer.reason}`);
  const signIns = await l.svc.store.listAudit({ action: 'auth.sign_in', limit: 1000 });
  assert.ok(!signIns.some((e) => e.actor === answer.email), 'no sign-in audited');
  return answer.reason;
}

async function assertSignedIn(l: SsoServer, answer: Answer): Promise<void> {
  assert.equal(answer.status, 303, `refused: ${answer.reason}`);
  assert.equal(answer.reason, null);
  assert.ok(answer.cookies.lapse_session, 'a session');
  const me = await fetch(`${l.url}/api/v1/me`, { headers: { cookie: `lapse_session=${answer.cookies.lapse_session}` } });
  assert.equal((await me.json()).id, answer.email);
}

describe('an ID token that is not what the provider would sign for Lapse is refused', () => {
  const providerKey = signingKey('provider-key-1');
  const otherKey = signingKey('not-the-provider');
  let l: SsoServer;
  before(async () => {
    l = await startSsoServer('provisionUsers: true', { jwks: { keys: [providerKey] } });
  });
  after(async () => { await l.stop(); });

  /** The provider's ID token with its claims changed, signed again with the provider's own key. */
  const withClaims = (change: (claims: Claims) => Claims) => (idToken: string): string => {
    const { header, claims } = decode(idToken);
    return signJwt(change(claims), providerKey, header);
  };

  test('the provider\'s token decoded and signed again unchanged is accepted (what the other cases change is all that differs)', async () => {
    let kid: unknown;
    const answer = await signIn(l, (idToken) => {
      kid = decode(idToken).header.kid;
      return withClaims((claims) => claims)(idToken);
    });
    assert.equal(kid, 'provider-key-1', 'the provider signs with the key it was given');
    await assertSignedIn(l, answer);
  });

  test('a wrong audience: another client\'s token, or one for Lapse and another party without saying which', async () => {
    await assertRefused(l, await signIn(l, withClaims((c) => ({ ...c, aud: 'another-app' }))), literal('unexpected JWT "aud" (audience) claim value (the ID token\'s aud: "another-app", expected "lapse")'));
    await assertRefused(l, await signIn(l, withClaims((c) => ({ ...c, aud: [c.aud, 'another-app'] }))), literal('"aud" (audience) claim includes additional untrusted audiences (the ID token\'s aud: ["lapse","another-app"])'));
  });

  test('a wrong issuer: the token names another identity provider', async () => {
    const why = literal(`unexpected JWT "iss" (issuer) claim value (the ID token's iss: "https://idp.evil.example", expected "${l.provider.issuer}")`);
    await assertRefused(l, await signIn(l, withClaims((c) => ({ ...c, iss: 'https://idp.evil.example' }))), why);
  });

  test('an expired token: exp ten minutes in the past', async () => {
    const exp = epoch() - 600;
    const why = literal(`unexpected JWT "exp" (expiration time) claim value, expiration is past current timestamp (the ID token's exp: ${new Date(exp * 1000).toISOString()}, now `);
    await assertRefused(l, await signIn(l, withClaims((c) => ({ ...c, iat: exp - 300, exp }))), why);
  });

  // openid-client 6 checks only that the code flow's iat is a number (OpenID Connect Core
  // 3.1.3.7 leaves the acceptable range to the client): Lapse allows 5 minutes of skew.
  test('a token issued in the future (iat a day ahead)', async () => {
    await assertRefused(l, await signIn(l, withClaims((c) => ({ ...c, iat: epoch() + 86_400, exp: epoch() + 2 * 86_400 }))), /the ID token's "iat" \(issued at\) is in the future/);
  });

  test('a bad signature: a key the provider does not publish, under its key\'s kid or its own, and a payload changed after signing', async () => {
    await assertRefused(l, await signIn(l, (idToken) => signJwt(decode(idToken).claims, { ...otherKey, kid: 'provider-key-1' })), /JWT signature verification failed/);
    await assertRefused(l, await signIn(l, (idToken) => signJwt(decode(idToken).claims, otherKey)), literal('the ID token is signed with a key the identity provider does not publish (the ID token\'s kid: "not-the-provider", alg: "RS256")'));
    const altered = await signIn(l, (idToken) => {
      const [header, , signature] = idToken.split('.');
      return `${header}.${encode({ ...decode(idToken).claims, email: 'alice@example.com', groups: ['platform'] })}.${signature}`;
    });
    await assertRefused(l, altered, /JWT signature verification failed/);
    assert.equal((await l.svc.store.listAudit({ actor: 'alice', limit: 10 })).length, 0, 'nobody signed in as the person named in the changed payload');
  });

  test('an unsigned token (alg: none)', async () => {
    const answer = await signIn(l, (idToken) => {
      const { header, claims } = decode(idToken);
      return `${encode({ ...header, alg: 'none' })}.${encode(claims)}.`;
    });
    await assertRefused(l, answer, literal('unexpected JWT "alg" header parameter (the ID token\'s alg: "none", expected ["RS256"])'));
  });
});

describe('the provider rotates its signing keys', () => {
  const first = signingKey('rotation-1');
  const second = signingKey('rotation-2');
  const third = signingKey('rotation-3');
  let l: SsoServer;
  before(async () => {
    l = await startSsoServer('provisionUsers: true', { jwks: { keys: [first] } });
  });
  after(async () => { await l.stop(); });

  /** Signs a new person in and says with which key the provider signed the ID token. */
  const signInSeeingKid = async (): Promise<{ answer: Answer; kid: unknown }> => {
    let kid: unknown;
    const answer = await signIn(l, (idToken) => {
      kid = decode(idToken).header.kid;
      return idToken;
    });
    return { answer, kid };
  };

  test('sign-in keeps working when the provider signs with a new key, published next to or instead of the old one, without restarting Lapse', async (t) => {
    // openid-client fetches the key set again for an unknown kid once the copy it holds is a
    // minute old (no sooner, so that tokens with made-up kids cannot make it fetch at will):
    // the clock moves past that before each sign-in under a new key.
    const realNow = Date.now;
    let offsetMs = 0;
    t.mock.method(Date, 'now', () => realNow() + offsetMs);
    const svc = l.svc;

    const initial = await signInSeeingKid();
    assert.equal(initial.kid, 'rotation-1');
    await assertSignedIn(l, initial.answer);

    l.provider.rotateKeys({ keys: [second, first] });
    offsetMs += 61_000;
    const next = await signInSeeingKid();
    assert.equal(next.kid, 'rotation-2', 'signed with the new key, the old one still published');
    await assertSignedIn(l, next.answer);

    l.provider.rotateKeys({ keys: [third] });
    offsetMs += 61_000;
    const instead = await signInSeeingKid();
    assert.equal(instead.kid, 'rotation-3', 'signed with a key published instead of the old ones');
    await assertSignedIn(l, instead.answer);

    // The retired key no longer signs for the provider.
    await assertRefused(l, await signIn(l, (idToken) => signJwt(decode(idToken).claims, first, decode(idToken).header)), literal('the ID token is signed with a key the identity provider does not publish (the ID token\'s kid: "rotation-1", alg: "RS256")'));
    assert.equal(l.svc, svc, 'the same Lapse server throughout');
  });
});
