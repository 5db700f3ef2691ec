// Single sign-on: the authorization request out to the provider (a step-up for a flow that
// requires MFA asks for a fresh authentication), the callback back (who the person is,
// whether they may sign in, creating or refreshing what Lapse knows of them, with the
// refresh token that renews them), and what follows: for the portal a session (a secret in
// an HttpOnly cookie, a CSRF token beside it, an idle and an absolute lifetime); for an app
// on the person's machine (the CLI, the tray) an API token through a one-time loopback code;
// for a machine without a browser an API token through the device authorization grant.
// Every sign-in, refusal and sign-out is audited.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { OidcSettings, StepUpPolicy, TokenLifetimes } from '../domain/config.ts';
import { admissionProblem, identityFromClaims, userIdFor, type ProviderAuthentication } from '../domain/sign-in.ts';
import type { UserConfig } from '../domain/config.ts';
import { SignInRefused, type OidcClient, type SignedInClaims } from '../auth/oidc-client.ts';
import type { SecretSealer } from '../auth/secret-sealer.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../logger.ts';
import { createToken } from '../auth/tokens.ts';

/** How long a person has to come back from the provider. */
const ATTEMPT_LIFETIME_MS = 10 * 60_000;
/** How long an app has to exchange its one-time code. */
const APP_CODE_LIFETIME_MS = 2 * 60_000;
/** A sign-in attempt's returnTo for an app (its loopback redirect), and for an app's one-time code. */
const APP_PREFIX = 'app:';
const GRANT_PREFIX = 'grant:';
/** A device sign-in's attempt (RFC 8628): what its token will be called, and how often it may ask. */
const DEVICE_PREFIX = 'device:';
/** "Last seen" is written at most this often per session. */
const TOUCH_EVERY_MS = 60_000;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const secret = () => randomBytes(32).toString('base64url');

export interface NewSession {
  /** The cookie's value (never stored: the store keeps its SHA-256). */
  secret: string;
  /** The CSRF token the portal sends back with each change (readable cookie). */
  csrfToken: string;
  expiresAt: number;
  userId: string;
  returnTo: string;
}

/** An app on the person's machine signing in (RFC 8252): where to come back, its state and its PKCE challenge. */
export interface AppSignIn {
  /** http://127.0.0.1:PORT/… or http://localhost:PORT/… only. */
  redirectUri: string;
  state: string;
  /** base64url(SHA-256(verifier)) */
  challenge: string;
  /** What the resulting token will be called, e.g. "lapse login on host". */
  name: string;
}

interface AppGrant {
  userId: string;
  challenge: string;
  name: string;
  authentication: ProviderAuthentication;
}

/** Why an app's sign-in request cannot be accepted (a redirect that is not loopback, a bad challenge), or null. */
export function appSignInProblem(app: AppSignIn): string | null {
  let url: URL;
  try {
    url = new URL(app.redirectUri);
  } catch {
    return 'redirect_uri is not a URL';
  }
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || !url.port || url.username || url.password || url.hash) {
    return 'redirect_uri must be a loopback address with a port, e.g. http://127.0.0.1:53682/callback';
  }
  if (!/^[A-Za-z0-9_-]{43}$/.test(app.challenge)) return 'code_challenge must be the base64url SHA-256 of a verifier (S256)';
  if (!/^[\x21-\x7e]{8,200}$/.test(app.state)) return 'state must be 8 to 200 visible characters';
  return null;
}

export interface SessionCaller {
  userId: string;
  sessionId: string;
  csrfHash: string;
  authentication: ProviderAuthentication | null;
}

export { SignInRefused };

/** A step-up was asked for a flow that asks none (unknown, or not requiring MFA). */
export class StepUpUnavailable extends Error {}

export class SignInService {
  constructor(private readonly d: {
    settings: OidcSettings;
    client: OidcClient;
    store: Store;
    now: () => number;
    /** The users of the configuration file (matched by email). */
    configuredUsers: () => readonly UserConfig[];
    /** Whether Lapse knows this user now (configured, or provisioned and not disabled). */
    isKnownUser: (userId: string) => boolean;
    /** Called after a person's identity was created or refreshed, so the running configuration follows. */
    identitiesChanged: () => Promise<void>;
    /** The step-up a flow asks of the provider, or why there is none to ask for (unknown flow, no MFA required). */
    stepUpFor: (flowId: string) => StepUpPolicy | { problem: string };
    /** How long the API tokens apps receive live. */
    tokenLifetimes: () => TokenLifetimes;
    /** Seals the provider's refresh token before it reaches the store. */
    refreshTokens: Pick<SecretSealer, 'seal'>;
    logger: Logger;
  }) {}

  /**
   * The provider's authorization URL for a new sign-in that returns to `returnTo` (a path of
   * the portal), or, for an app on this person's machine (the CLI, the tray), to its loopback
   * redirect with a one-time code (RFC 8252; see AppSignIn). With `stepUpFlow`, a step-up for
   * that flow: the provider is asked for a fresh authentication (max_age, acr_values), and
   * the resulting session or token carries it. Throws StepUpUnavailable for a flow that asks none.
   */
  async begin(returnTo: string | undefined, app?: AppSignIn, stepUpFlow?: string): Promise<string> {
    let maxAgeSeconds: number | null = null;
    let acrValues: string[] = [];
    if (stepUpFlow !== undefined) {
      const policy = this.d.stepUpFor(stepUpFlow);
      if ('problem' in policy) throw new StepUpUnavailable(policy.problem);
      // Asked a little shorter than the flow allows, so the request that follows still fits.
      maxAgeSeconds = Math.max(0, Math.floor(policy.maxAgeMs / 1000) - 60);
      acrValues = policy.acrValues;
    }
    const pending = await this.d.client.begin(maxAgeSeconds === null ? undefined : { maxAgeSeconds, acrValues });
    const now = this.d.now();
    await this.d.store.saveSignInAttempt({
      state: pending.state, nonce: pending.nonce, codeVerifier: pending.codeVerifier,
      returnTo: app ? `${APP_PREFIX}${JSON.stringify(app)}` : safeReturnPath(returnTo), createdAt: now, expiresAt: now + ATTEMPT_LIFETIME_MS, maxAgeSeconds,
    });
    return pending.url.href;
  }

  /**
   * Completes a sign-in from the provider's redirect: a session for the portal, or for an app
   * the loopback URL to send the person to, with a one-time code. Throws SignInRefused
   * (audited) with the reason.
   */
  async complete(callback: URL): Promise<NewSession | { app: string }> {
    try {
      return await this.signIn(callback);
    } catch (err) {
      const reason = err instanceof SignInRefused ? err.message : `the sign-in failed: ${String(err)}`;
      await this.d.store.appendAudit([{ at: this.d.now(), actor: 'anonymous', action: 'auth.sign_in_refused', requestId: null, data: { reason } }]).catch(() => undefined);
      this.d.logger.warn({ reason }, 'sign-in refused');
      throw err instanceof SignInRefused ? err : new SignInRefused(reason);
    }
  }

  private async signIn(callback: URL): Promise<NewSession | { app: string }> {
    const providerError = callback.searchParams.get('error');
    if (providerError) throw new SignInRefused(`the identity provider refused: ${providerError}${callback.searchParams.get('error_description') ? ` (${callback.searchParams.get('error_description')})` : ''}`);
    const state = callback.searchParams.get('state');
    const now = this.d.now();
    const attempt = state ? await this.d.store.takeSignInAttempt(state, now) : null;
    if (!attempt) throw new SignInRefused('this sign-in has expired or was already used: sign in again');
    const { nonce, codeVerifier, maxAgeSeconds } = attempt;
    const signed = await this.d.client.complete(callback, { state: attempt.state, nonce, codeVerifier, ...(maxAgeSeconds != null ? { maxAgeSeconds } : {}) }, now);
    const forApp = attempt.returnTo.startsWith(APP_PREFIX);
    const who = await this.admit(signed, now, forApp ? 'app' : 'portal', attempt.maxAgeSeconds != null);
    if (forApp) return { app: await this.grantApp(JSON.parse(attempt.returnTo.slice(APP_PREFIX.length)) as AppSignIn, who, signed.authentication, now) };
    const session: NewSession = { secret: secret(), csrfToken: secret(), expiresAt: now + this.d.settings.sessionMaxAgeMs, userId: who, returnTo: attempt.returnTo };
    await this.d.store.insertSession({
      id: sha256(session.secret), userId: who, createdAt: now, lastSeenAt: now, expiresAt: session.expiresAt, idleTimeoutMs: this.d.settings.sessionIdleMs,
      csrfHash: sha256(session.csrfToken), idToken: signed.idToken, revokedAt: null, revokedReason: null, authentication: signed.authentication,
    });
    return session;
  }

  /**
   * Who the provider's validated answer is to Lapse, let in: the identity from its claims,
   * checked against the allowed domains and groups, matched to a configured user or created
   * (provisioning), kept with the refresh token that renews it, and the sign-in audited.
   * Throws SignInRefused with the reason.
   */
  private async admit(signed: SignedInClaims, now: number, via: 'portal' | 'app' | 'device', stepUp: boolean): Promise<string> {
    const identity = identityFromClaims(this.d.settings, signed.issuer, signed.subject, signed.claims);
    if ('refused' in identity) throw new SignInRefused(identity.refused);
    const notAllowed = admissionProblem(this.d.settings, identity);
    if (notAllowed) throw new SignInRefused(notAllowed);
    const who = userIdFor(identity, this.d.configuredUsers(), this.d.settings.provisionUsers);
    if ('refused' in who) throw new SignInRefused(who.refused);
    const linked = await this.d.store.findProvisionedUserBySubject(identity.issuer, identity.subject);
    if (linked && linked.id !== who.id) throw new SignInRefused(`this identity is already the Lapse user ${linked.id}; ask an admin to change the configuration`);
    const previous = linked ?? (await this.d.store.findProvisionedUser(who.id));
    if (previous && (previous.issuer !== identity.issuer || previous.subject !== identity.subject)) {
      throw new SignInRefused(`the Lapse user ${who.id} signs in with another identity at the provider`);
    }
    await this.d.store.saveProvisionedUser({
      id: who.id, issuer: identity.issuer, subject: identity.subject, email: identity.email, name: identity.name, groups: identity.groups,
      manager: identity.manager, attributes: identity.attributes, createdAt: previous?.createdAt ?? now, updatedAt: now, lastSignInAt: now, disabledAt: null,
    });
    // The refresh token renews the person at the provider later (groups, and whether they may stay).
    await this.d.store.saveRenewal(who.id, {
      refreshToken: signed.refreshToken && this.d.refreshTokens.seal(who.id, signed.refreshToken), renewAt: signed.refreshToken ? now + this.d.settings.renewEveryMs : null, error: null,
    });
    if (!signed.refreshToken) this.d.logger.info({ user: who.id }, 'the identity provider gave no refresh token: this person is renewed only when they sign in again (ask for offline_access in settings.oidc.scopes)');
    await this.d.identitiesChanged();
    await this.d.store.appendAudit([{
      at: now, actor: who.id, action: 'auth.sign_in', requestId: null,
      data: {
        method: 'oidc', via, created: !previous && !who.configured, groups: identity.groups,
        ...(stepUp ? { stepUp: true, acr: signed.authentication.acr, amr: signed.authentication.amr } : {}),
      },
    }]);
    return who.id;
  }

  /**
   * A sign-in for a machine without a browser (the device authorization grant, where the
   * provider offers it): the code the person types at the provider's address, on any device,
   * and Lapse's own handle for the app to ask with (its SHA-256 is kept, with the provider's
   * device code, as a sign-in attempt that ends when the provider's does).
   */
  async beginDevice(name: string): Promise<{ handle: string; userCode: string; verificationUri: string; verificationUriComplete: string | null; expiresInSeconds: number; intervalSeconds: number }> {
    const device = await this.d.client.beginDevice();
    const handle = secret();
    const now = this.d.now();
    await this.d.store.saveSignInAttempt({
      state: sha256(handle), nonce: '', codeVerifier: device.deviceCode, returnTo: `${DEVICE_PREFIX}${JSON.stringify({ name, interval: device.intervalSeconds })}`,
      createdAt: now, expiresAt: now + device.expiresInSeconds * 1000,
    });
    return { handle, userCode: device.userCode, verificationUri: device.verificationUri, verificationUriComplete: device.verificationUriComplete, expiresInSeconds: device.expiresInSeconds, intervalSeconds: device.intervalSeconds };
  }

  /**
   * Asks once whether the person approved the device sign-in: `pending` with how long to wait
   * before asking again, or an API token of the person (let in as any sign-in is). Throws
   * SignInRefused (audited) when the provider or Lapse refuses, or the sign-in ended.
   */
  async pollDevice(handle: string): Promise<{ pending: true; intervalSeconds: number } | { userId: string; token: string; expiresAt: number | null; tokenId: string }> {
    const now = this.d.now();
    // Taken while the provider is asked: two polls at once do not both get a token.
    const attempt = await this.d.store.takeSignInAttempt(sha256(handle), now);
    if (!attempt || !attempt.returnTo.startsWith(DEVICE_PREFIX)) throw new SignInRefused('this device sign-in has ended (expired, refused or completed): start again');
    const device = JSON.parse(attempt.returnTo.slice(DEVICE_PREFIX.length)) as { name: string; interval: number };
    try {
      const answer = await this.d.client.pollDevice(attempt.codeVerifier, now);
      if ('pending' in answer) {
        const interval = device.interval + (answer.slowDown ? 5 : 0);
        await this.d.store.saveSignInAttempt({ ...attempt, returnTo: `${DEVICE_PREFIX}${JSON.stringify({ ...device, interval })}` });
        return { pending: true, intervalSeconds: interval };
      }
      const userId = await this.admit(answer, now, 'device', false);
      const { token, record } = await createToken(this.d.store, userId, device.name, now, {
        by: userId, expiresAt: now + this.d.tokenLifetimes().defaultLifetimeMs, authentication: answer.authentication,
      });
      return { userId, token, expiresAt: record.expiresAt, tokenId: record.id };
    } catch (err) {
      const reason = err instanceof SignInRefused ? err.message : `the sign-in failed: ${String(err)}`;
      await this.d.store.appendAudit([{ at: now, actor: 'anonymous', action: 'auth.sign_in_refused', requestId: null, data: { reason, via: 'device' } }]).catch(() => undefined);
      this.d.logger.warn({ reason }, 'device sign-in refused');
      throw err instanceof SignInRefused ? err : new SignInRefused(reason);
    }
  }

  /** A one-time code for the app, kept like a sign-in attempt (single use, two minutes), and the loopback URL carrying it. */
  private async grantApp(app: AppSignIn, userId: string, authentication: ProviderAuthentication, now: number): Promise<string> {
    const code = secret();
    const grant: AppGrant = { userId, challenge: app.challenge, name: app.name, authentication };
    await this.d.store.saveSignInAttempt({ state: code, nonce: '', codeVerifier: '', returnTo: `${GRANT_PREFIX}${JSON.stringify(grant)}`, createdAt: now, expiresAt: now + APP_CODE_LIFETIME_MS });
    const url = new URL(app.redirectUri);
    url.searchParams.set('code', code);
    url.searchParams.set('state', app.state);
    return url.href;
  }

  /**
   * The app's code and the verifier behind its challenge, exchanged once for an API token
   * of the person who signed in (a personal token with the default lifetime).
   */
  async exchangeAppCode(code: string, verifier: string): Promise<{ userId: string; token: string; expiresAt: number | null; tokenId: string }> {
    const now = this.d.now();
    const attempt = await this.d.store.takeSignInAttempt(code, now);
    if (!attempt || !attempt.returnTo.startsWith(GRANT_PREFIX)) throw new SignInRefused('this code has expired or was already used: sign in again');
    const grant = JSON.parse(attempt.returnTo.slice(GRANT_PREFIX.length)) as AppGrant;
    if (createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) throw new SignInRefused('the code verifier does not match the sign-in\'s challenge');
    if (!this.d.isKnownUser(grant.userId)) throw new SignInRefused(`${grant.userId} is no longer a Lapse user`);
    const { token, record } = await createToken(this.d.store, grant.userId, grant.name, now, {
      by: grant.userId, expiresAt: now + this.d.tokenLifetimes().defaultLifetimeMs, authentication: grant.authentication,
    });
    return { userId: grant.userId, token, expiresAt: record.expiresAt, tokenId: record.id };
  }

  /** The caller a session cookie stands for, or null (unknown, revoked, expired, idle too long, or a user Lapse no longer knows). */
  async authenticate(cookie: string): Promise<SessionCaller | null> {
    const id = sha256(cookie);
    const s = await this.d.store.findSession(id);
    if (!s || s.revokedAt !== null) return null;
    const now = this.d.now();
    if (now >= s.expiresAt) return null;
    if (now - s.lastSeenAt > s.idleTimeoutMs) {
      await this.d.store.revokeSession(id, now, 'idle');
      return null;
    }
    if (!this.d.isKnownUser(s.userId)) {
      if (await this.d.store.revokeSession(id, now, 'user removed')) {
        await this.d.store.appendAudit([{ at: now, actor: 'system', action: 'auth.session_revoked', requestId: null, data: { user: s.userId, reason: 'user removed' } }]);
      }
      return null;
    }
    if (now - s.lastSeenAt >= TOUCH_EVERY_MS) await this.d.store.touchSession(id, now);
    return { userId: s.userId, sessionId: id, csrfHash: s.csrfHash, authentication: s.authentication ?? null };
  }

  /** Ends the session; where the provider offers it, the URL that signs the person out there too. */
  async signOut(sessionId: string, userId: string, returnTo: string): Promise<string | null> {
    const now = this.d.now();
    const s = await this.d.store.findSession(sessionId);
    if (await this.d.store.revokeSession(sessionId, now, 'sign-out')) {
      await this.d.store.appendAudit([{ at: now, actor: userId, action: 'auth.sign_out', requestId: null, data: {} }]);
    }
    return this.d.client.logoutUrl(s?.idToken ?? null, returnTo);
  }
}

/** Whether a CSRF token presented with a request is the session's. */
export function csrfMatches(presented: string | undefined, csrfHash: string): boolean {
  if (!presented) return false;
  const a = Buffer.from(sha256(presented), 'hex');
  const b = Buffer.from(csrfHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A path of this site to return to after sign-in: anything else (another site, `//host`, `/\host`) becomes `/`. */
export function safeReturnPath(path: string | undefined): string {
  if (!path || !path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\') || /[\u0000-\u001f\\]/.test(path)) return '/';
  return path;
}
