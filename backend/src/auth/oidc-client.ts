// The OpenID Connect relying party, through openid-client (OpenID Certified): discovery,
// the authorization code flow with PKCE, state and nonce, and ID token validation (issuer,
// audience, expiry, signature with the provider's rotating keys, nonce). Nothing here is
// hand-written protocol: this module only says what Lapse asks for and what it keeps.

import * as oidc from 'openid-client';
import type { OidcSettings } from '../domain/config.ts';

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
}

/** A sign-in the provider or the validation refused; the message says why, for the person and the audit. */
export class SignInRefused extends Error {}

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
      { execute: LOOPBACK.test(this.settings.issuer) ? [oidc.allowInsecureRequests] : [], timeout: 10 },
    ).catch((err: unknown) => {
      this.configuration = null;
      throw new SignInRefused(`the identity provider ${this.settings.issuer} cannot be reached or described itself wrongly: ${(err as Error).message}`);
    });
    return this.configuration;
  }

  /** An authorization URL with a fresh state, nonce and PKCE verifier (S256). */
  async begin(extra: Record<string, string> = {}): Promise<PendingSignIn> {
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
      ...extra,
    });
    return { url, state, nonce, codeVerifier };
  }

  /**
   * Exchanges the callback's code (the URL the provider redirected to) and validates the
   * ID token against what the authorization request expected.
   */
  async complete(callback: URL, expected: { state: string; nonce: string; codeVerifier: string }): Promise<SignedInClaims> {
    const config = await this.config();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: expected.codeVerifier,
        expectedState: expected.state,
        expectedNonce: expected.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw new SignInRefused(`the identity provider's answer was refused: ${describeError(err)}`);
    }
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new SignInRefused('the identity provider sent no ID token');
    return { issuer: claims.iss, subject: claims.sub, claims: { ...claims }, idToken: tokens.id_token };
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
  const e = err as { message?: string; error?: string; error_description?: string; cause?: { message?: unknown } };
  const provider = e.error ? `${e.error}${e.error_description ? `: ${e.error_description}` : ''}` : '';
  // The library's own cause says which check failed (e.g. the ID token's "nonce" claim).
  const cause = typeof e.cause?.message === 'string' && e.cause.message !== e.message ? `: ${e.cause.message}` : '';
  return provider || `${e.message ?? String(err)}${cause}`;
}
