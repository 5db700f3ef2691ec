// TOTP self-enrolment, for flows that require MFA on a server without single sign-on: a
// person sets up their own authenticator instead of an admin holding everyone's secret.
//
// Starting makes a fresh secret (20 random bytes), shown this once as text, as an otpauth://
// URI and as a QR code of it; the enrolment stays pending (no factor) until a code from it
// confirms it. Starting again replaces a pending enrolment, never a confirmed one: that one
// is removed first, by its owner with a current code, or by an admin. A person whose secret
// the configuration names is told that the admin manages it. The codes that confirm or remove
// an enrolment are checked as a request's are (auth/mfa.ts): counted toward the same limit of
// wrong codes, each code used once. Every step, and every refused code, is audited; the
// secret never is, and after the start no answer holds it.

import { LapseError } from '../engine/errors.ts';
import type { MfaResult } from '../engine/engine.ts';
import type { Store, MfaEnrolment } from '../store/store.ts';
import type { MfaEnrolmentStarted, MfaStatusView } from '../../../common/api/types.ts';
import type { MfaSecretSealer } from '../auth/secret-sealer.ts';
import type { TotpVerifier } from '../auth/mfa.ts';
import { base32Decode, base32Encode, otpauthUri } from '../auth/totp.ts';
import { secureRandomBytes } from '../domain/random.ts';
import { iso } from '../api/views.ts';

/** The secret's size: 160 bits, as RFC 4226 recommends for HMAC-SHA-1. */
const SECRET_BYTES = 20;

const MANAGED_BY_ADMIN = 'your MFA secret is set in the server\'s configuration: the admin manages it, not enrolment';
const BY_PROVIDER = 'this server signs people in through an identity provider: flows that require MFA ask it for a fresh sign-in (a step-up), not for a code from an authenticator';

export interface MfaEnrolmentDeps {
  store: Pick<Store, 'getMfaEnrolment' | 'startMfaEnrolment' | 'confirmMfaEnrolment' | 'deleteMfaEnrolment' | 'appendAudit'>;
  verifier: Pick<TotpVerifier, 'check' | 'configured'>;
  secrets: MfaSecretSealer;
  now: () => number;
  /** With single sign-on, the identity provider is the second factor (a step-up): nothing is set up here. */
  singleSignOn?: boolean;
}

export function mfaStatusView(configured: boolean, e: MfaEnrolment | null): MfaStatusView {
  if (configured) return { status: 'configured', startedAt: null, confirmedAt: null };
  if (!e) return { status: 'none', startedAt: null, confirmedAt: null };
  return { status: e.state === 'confirmed' ? 'enrolled' : 'pending', startedAt: iso(e.createdAt), confirmedAt: iso(e.confirmedAt) };
}

export class MfaEnrolments {
  constructor(private readonly d: MfaEnrolmentDeps) {}

  async status(userId: string): Promise<MfaStatusView> {
    if (this.d.singleSignOn) return { status: 'provider', startedAt: null, confirmedAt: null };
    return mfaStatusView(this.d.verifier.configured(userId), await this.d.store.getMfaEnrolment(userId));
  }

  /** Starts (or starts again) the caller's enrolment: the answer holds the new secret, this once. */
  async start(userId: string): Promise<MfaEnrolmentStarted> {
    if (this.d.singleSignOn) throw new LapseError('conflict', BY_PROVIDER);
    if (this.d.verifier.configured(userId)) throw new LapseError('conflict', MANAGED_BY_ADMIN);
    const now = this.d.now();
    const secret = base32Encode(secureRandomBytes(SECRET_BYTES));
    const before = await this.d.store.getMfaEnrolment(userId);
    if (!(await this.d.store.startMfaEnrolment(userId, this.d.secrets.seal(userId, secret), now))) {
      throw new LapseError('conflict', 'you are enrolled already: remove your factor first (with a code from it), or ask an admin to reset it');
    }
    await this.audit(now, userId, 'mfa.enrolment_started', { user: userId, replacedPending: before?.state === 'pending' });
    const uri = otpauthUri(userId, secret);
    // The QR library is loaded by the first enrolment, not at every start of the server.
    const { toString } = await import('qrcode');
    const svg = await toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return {
      status: 'pending', startedAt: iso(now), confirmedAt: null,
      secret, otpauthUri: uri, qrCode: `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`,
    };
  }

  /** Confirms the caller's pending enrolment with a code from it: from then on it is their factor. */
  async confirm(userId: string, code: string): Promise<MfaStatusView> {
    if (this.d.verifier.configured(userId)) throw new LapseError('conflict', MANAGED_BY_ADMIN);
    const e = await this.d.store.getMfaEnrolment(userId);
    if (!e) throw new LapseError('conflict', 'there is no enrolment to confirm: set one up first');
    if (e.state === 'confirmed') throw new LapseError('conflict', 'your enrolment is confirmed already');
    await this.checkCode(userId, code, e, 'enrolment');
    const now = this.d.now();
    if (!(await this.d.store.confirmMfaEnrolment(userId, e.secret, now))) {
      throw new LapseError('conflict', 'your enrolment changed meanwhile (set up again, or removed): confirm the one you have now');
    }
    await this.audit(now, userId, 'mfa.enrolled', { user: userId });
    return mfaStatusView(false, { ...e, state: 'confirmed', confirmedAt: now });
  }

  /**
   * Removes the caller's own enrolment: a confirmed one only with a current code from it (a
   * stolen token alone cannot swap in another authenticator); a pending one as it is.
   */
  async removeOwn(userId: string, code: string | undefined): Promise<void> {
    if (this.d.verifier.configured(userId)) throw new LapseError('conflict', MANAGED_BY_ADMIN);
    const e = await this.d.store.getMfaEnrolment(userId);
    if (!e) throw new LapseError('not-found', 'you have no MFA enrolment');
    if (e.state === 'confirmed') {
      if (code === undefined) throw new LapseError('invalid', 'removing your factor needs a current code from it (lost it? an admin can reset it)', 'code');
      await this.checkCode(userId, code, e, 'reset');
    }
    const removed = await this.d.store.deleteMfaEnrolment(userId, e.state);
    if (!removed) throw new LapseError('conflict', 'your enrolment changed meanwhile: look at it again');
    await this.audit(this.d.now(), userId, 'mfa.reset', { user: userId, state: removed.state });
  }

  /** An admin removes another person's enrolment (one who lost their authenticator); anyone else is refused before anything is looked up. */
  async reset(caller: { id: string; admin: boolean }, userId: string): Promise<void> {
    if (!caller.admin) throw new LapseError('forbidden', 'only admins reset another person\'s MFA');
    const removed = await this.d.store.deleteMfaEnrolment(userId);
    if (!removed) {
      if (this.d.verifier.configured(userId)) throw new LapseError('conflict', `the MFA secret of ${userId} is set in the server's configuration (identities.users[].mfa): change it there`);
      throw new LapseError('not-found', `${userId} has no MFA enrolment`);
    }
    await this.audit(this.d.now(), caller.id, 'mfa.reset', { user: userId, state: removed.state });
  }

  /** Checks a code against the enrolment's own secret; a refused one is audited and thrown as the API's error. */
  private async checkCode(userId: string, code: string, e: MfaEnrolment, purpose: 'enrolment' | 'reset'): Promise<void> {
    const result: MfaResult = await this.d.verifier.check(userId, code, async () => base32Decode(this.d.secrets.open(userId, e.secret)));
    if (result.ok) return;
    await this.audit(this.d.now(), userId, result.reason === 'locked' ? 'mfa.refused' : 'mfa.failed', { for: purpose, reason: result.reason, failures: result.failures });
    if (result.reason === 'locked') {
      const minutes = Math.ceil((result.retryAfterMs ?? 60_000) / 60_000);
      throw new LapseError('too-many', `too many wrong MFA codes lately: try again in ${minutes} min`, 'code', result.retryAfterMs);
    }
    throw new LapseError('invalid', result.reason === 'used'
      ? 'that code was used already: wait for the next one'
      : 'the code is not valid (wrong or expired): check the time on your device, and that the app holds this secret', 'code');
  }

  private audit(at: number, actor: string, action: string, data: Record<string, unknown>): Promise<void> {
    return this.d.store.appendAudit([{ at, actor, action, requestId: null, data }]);
  }
}
