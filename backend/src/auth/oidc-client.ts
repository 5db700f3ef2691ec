// The OpenID Connect relying party, through openid-client (OpenID Certified): discovery,
// the authorization code flow with PKCE, state and nonce, and ID token validation (issuer,
// audience, expiry, signature with the provider's rotating keys, nonce), renewal with the
// refresh token, step-up (max_age and acr_values, checked through auth_time), and the device
// authorization grant (RFC 8628). Nothing
// here is hand-written protocol: this module only says what Lapse asks for and what it keeps.

import * as oidc from 'openid-client';
import type { OidcSettings } from '../domain/config.ts';
import type { ProviderAuthentication } from '../domain/sign-in.ts';

/** One authorization request on its way out: what the callback must match. */
export interface PendingSignIn {
  url: URL;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** What the provider says about the person, as its ID token's claims (validated). */
export interface SignedInClaims {
  issuer: string;
  subject: string;
  claims: Record<string, unknown>;
  idToken: string;
  /** What renews the person later (null: the provider gave none, e.g. without offline_access). */
  refreshToken: string | null;
  /** When and how the provider authenticated the person. */
  authentication: ProviderAuthentication;
}

/** A device authorization under way (RFC 8628): the provider's device code stays with Lapse. */
export interface DeviceSignIn {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string | null;
  expiresInSeconds: number;
  intervalSeconds: number;
}

/** A step-up asked of the provider: authenticated at most maxAgeSeconds ago, with one of acrValues. */
export interface StepUpRequest {
  maxAgeSeconds: number;
  acrValues: string[];
}

/**
 * A renewal at the provider: the person's current claims and the refresh token to use next;
 * or `refused` (the provider no longer lets the person in: invalid_grant); or `failed`
 * (the provider could not be asked or answered wrongly: try again later).
 */
export type RenewalOutcome =
  | { outcome: 'renewed'; claims: Record<string, unknown>; refreshToken: string }
  | { outcome: 'refused'; reason: string }
  | { outcome: 'failed'; reason: string };

/** A sign-in the provider or the validation refused; the message says why, for the person and the audit. */
export class SignInRefused extends Error {}

/** How far ahead of Lapse's clock an ID token's issue time may be (clocks drift). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/;

export class OidcClient {
  private configuration: Promise<oidc.Configuration> | null = null;

  constructor(
    private readonly settings: OidcSettings,
    /** Where the provider sends people back: <publicUrl>/auth/callback. */
    readonly redirectUri: string,
    private readonly clientSecret: string | undefined,
  ) {}

  /** The provider's metadata, discovered once (again after a failure). */
  private config(): Promise<oidc.Configuration> {
    this.configuration ??= oidc.discovery(
      new URL(this.settings.issuer),
      this.settings.clientId,
      undefined,
      this.clientSecret === undefined ? oidc.None() : oidc.ClientSecretPost(this.clientSecret),
      // Plain http only for a provider on this machine (the configuration refuses any other).
      // The ID token's signature is verified against the provider's published keys (fetched
      // again for a key it does not know yet) even though it comes straight from the token
      // endpoint: TLS alone would let a proxy or a compromised path hand Lapse any identity.
      { execute: [...(LOOPBACK.test(this.settings.issuer) ? [oidc.allowInsecureRequests] : []), oidc.enableNonRepudiationChecks], timeout: 10 },
    ).catch((err: unknown) => {
      this.configuration = null;
      throw new SignInRefused(`the identity provider ${this.settings.issuer} cannot be reached or described itself wrongly: ${(err as Error).message}`);
    });
    return this.configuration;
  }

  /** An authorization URL with a fresh state, nonce and PKCE verifier (S256); with a step-up, max_age and acr_values. */
  async begin(stepUp?: StepUpRequest): Promise<PendingSignIn> {
    const config = await this.config();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: this.settings.scopes.join(' '),
      response_type: 'code',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      ...this.settings.authorizationParams,
      ...(stepUp ? { max_age: String(stepUp.maxAgeSeconds), ...(stepUp.acrValues.length ? { acr_values: stepUp.acrValues.join(' ') } : {}) } : {}),
    });
    return { url, state, nonce, codeVerifier };
  }

  /**
   * Exchanges the callback's code (the URL the provider redirected to) and validates the
   * ID token against what the authorization request expected.
   */
  async complete(callback: URL, expected: { state: string; nonce: string; codeVerifier: string; maxAgeSeconds?: number }, now = Date.now()): Promise<SignedInClaims> {
    const config = await this.config();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: expected.codeVerifier,
        expectedState: expected.state,
        expectedNonce: expected.nonce,
        idTokenExpected: true,
        // A step-up: the ID token must carry an auth_time no older than this.
        ...(expected.maxAgeSeconds !== undefined ? { maxAge: expected.maxAgeSeconds } : {}),
      });
    } catch (err) {
      throw new SignInRefused(`the identity provider's answer was refused: ${describeError(err)}`);
    }
    return this.signedIn(tokens, now);
  }

  /** What Lapse keeps of a token response with a validated ID token. */
  private signedIn(tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, now: number): SignedInClaims {
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new SignInRefused('the identity provider sent no ID token');
    // The library checks exp but not an issue time ahead of the clock (beyond a small skew).
    if (typeof claims.iat === 'number' && claims.iat * 1000 > Date.now() + MAX_CLOCK_SKEW_MS) {
      throw new SignInRefused(`the identity provider's answer was refused: the ID token's "iat" (issued at) is in the future (${new Date(claims.iat * 1000).toISOString()}); check the clocks of Lapse and the provider`);
    }
    return {
      issuer: claims.iss, subject: claims.sub, claims: { ...claims }, idToken: tokens.id_token, refreshToken: tokens.refresh_token ?? null,
      authentication: {
        at: typeof claims.auth_time === 'number' ? claims.auth_time * 1000 : now,
        acr: typeof claims.acr === 'string' ? claims.acr : null,
        amr: Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [],
      },
    };
  }

  /**
   * A device authorization (RFC 8628) at the provider, for a sign-in on a machine without a
   * browser: the provider's device code (kept by Lapse), the code the person types, and where.
   */
  async beginDevice(): Promise<DeviceSignIn> {
    const config = await this.config();
    if (!config.serverMetadata().device_authorization_endpoint) throw new SignInRefused(`the identity provider ${this.settings.issuer} offers no device authorization: sign in with a browser on this machine`);
    try {
      const d = await oidc.initiateDeviceAuthorization(config, { scope: this.settings.scopes.join(' ') });
      return {
        deviceCode: d.device_code, userCode: d.user_code, verificationUri: d.verification_uri, verificationUriComplete: d.verification_uri_complete ?? null,
        expiresInSeconds: d.expires_in, intervalSeconds: d.interval ?? 5,
      };
    } catch (err) {
      throw new SignInRefused(`the identity provider refused the device authorization: ${describeError(err)}`);
    }
  }

  /**
   * Asks the provider once whether the person approved the device sign-in: `pending` (ask
   * again after intervalSeconds, longer when it said slow_down), or the validated claims.
   * Throws SignInRefused when the provider refused it (denied, expired) or answered wrongly.
   */
  async pollDevice(deviceCode: string, now = Date.now()): Promise<{ pending: true; slowDown: boolean } | SignedInClaims> {
    const config = await this.config();
    let tokens: Awaited<ReturnType<typeof oidc.genericGrantRequest>>;
    try {
      tokens = await oidc.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:device_code', { device_code: deviceCode });
    } catch (err) {
      if (err instanceof oidc.ResponseBodyError && (err.error === 'authorization_pending' || err.error === 'slow_down')) return { pending: true, slowDown: err.error === 'slow_down' };
      throw new SignInRefused(`the identity provider's answer was refused: ${describeError(err)}`);
    }
    return this.signedIn(tokens, now);
  }

  /**
   * Renews the person whose provider subject is `subject` with their refresh token: their
   * claims now (the new ID token's, else the userinfo endpoint's) and the refresh token to keep.
   */
  async renew(refreshToken: string, subject: string): Promise<RenewalOutcome> {
    let config: oidc.Configuration;
    try {
      config = await this.config();
    } catch (err) {
      return { outcome: 'failed', reason: (err as Error).message };
    }
    try {
      const tokens = await oidc.refreshTokenGrant(config, refreshToken);
      const idClaims = tokens.claims();
      if (idClaims && idClaims.sub !== subject) return { outcome: 'failed', reason: 'the identity provider renewed another person (subject changed)' };
      const claims = idClaims ? { ...idClaims } : { ...(await oidc.fetchUserInfo(config, tokens.access_token, subject)) };
      return { outcome: 'renewed', claims, refreshToken: tokens.refresh_token ?? refreshToken };
    } catch (err) {
      // invalid_grant: the refresh token is no longer good for this person (disabled, removed,
      // signed out everywhere, consent withdrawn). Anything else says nothing about the person.
      const refused = err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant';
      return { outcome: refused ? 'refused' : 'failed', reason: describeError(err) };
    }
  }

  /** Where to send the person to sign out at the provider too (RP-initiated logout), or null when it offers none. */
  async logoutUrl(idToken: string | null, returnTo: string): Promise<string | null> {
    const config = await this.config().catch(() => null);
    if (!config?.serverMetadata().end_session_endpoint) return null;
    return oidc.buildEndSessionUrl(config, { post_logout_redirect_uri: returnTo, ...(idToken ? { id_token_hint: idToken } : {}) }).href;
  }
}

/** The library's error, with the provider's own error and description where it gave them. */
function describeError(err: unknown): string {
  const e = err as { message?: string; error?: string; error_description?: string; code?: unknown; cause?: { message?: unknown; cause?: unknown } };
  const provider = e.error ? `${e.error}${e.error_description ? `: ${e.error_description}` : ''}` : '';
  const checked = checkedValues(e.cause?.cause);
  // A key the provider's key set (jwks_uri) does not hold: say so, not how the library looked.
  if (!provider && e.code === 'OAUTH_KEY_SELECTION_FAILED' && /no applicable keys/.test(e.message ?? '')) {
    return `the ID token is signed with a key the identity provider does not publish${checked}`;
  }
  // The library's own cause says which check failed (e.g. the ID token's "nonce" claim).
  const cause = typeof e.cause?.message === 'string' && e.cause.message !== e.message ? `: ${e.cause.message}` : '';
  return provider || `${e.message ?? String(err)}${cause}${checked}`;
}

/** The token's values a failed check compared, as the library gives them (never the nonce or the hashes). */
function checkedValues(details: unknown): string {
  const d = details as { claim?: unknown; claims?: Record<string, unknown>; expected?: unknown; now?: unknown; header?: Record<string, unknown> } | undefined;
  const shown = (value: unknown, time: boolean) => (time && typeof value === 'number' ? new Date(value * 1000).toISOString() : JSON.stringify(value) ?? 'none').slice(0, 120);
  if (typeof d?.claim === 'string' && ['iss', 'aud', 'azp', 'exp', 'iat', 'nbf', 'auth_time'].includes(d.claim) && d.claims) {
    const time = ['exp', 'iat', 'nbf', 'auth_time'].includes(d.claim);
    const against = typeof d.now === 'number' ? `, now ${shown(d.now, true)}` : d.expected !== undefined ? `, expected ${shown(d.expected, false)}` : '';
    return ` (the ID token's ${d.claim}: ${shown(d.claims[d.claim], time)}${against})`;
  }
  if (d?.header) {
    return d.expected !== undefined
      ? ` (the ID token's alg: ${shown(d.header.alg, false)}, expected ${shown(d.expected, false)})`
      : ` (the ID token's kid: ${shown(d.header.kid, false)}, alg: ${shown(d.header.alg, false)})`;
  }
  return '';
}
