// MFA verification for flows that require it. A user's TOTP secret comes from the
// configuration when it names one (an env variable or a file: the admin holds it), else from
// the user's own confirmed enrolment (services/mfa-enrolment.ts; sealed in the store, see
// secret-sealer.ts). A pending enrolment is no factor. A code is accepted once, and never one
// older than the last used (atomic in the store, so two replicas cannot both accept it).
// Attempts are limited per user, in the store (shared by replicas): every attempt counts when
// it begins, and a right code takes its count back, so no number of simultaneous guesses gets
// past the limit; past MFA_MAX_FAILURES in MFA_WINDOW_MS, codes are not looked at until the
// window ends. The codes that confirm or remove an enrolment go through the same count.

import { readFileSync } from 'node:fs';
import type { UserConfig } from '../domain/config.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from '../../../common/clock.ts';
import type { MfaResult, MfaVerifier } from '../engine/engine.ts';
import type { MfaSecretSealer } from './secret-sealer.ts';
import { base32Decode, matchTotp } from './totp.ts';

/** Wrong codes a user may give within MFA_WINDOW_MS; after that, none is looked at until the window ends. */
export const MFA_MAX_FAILURES = 5;
export const MFA_WINDOW_MS = 15 * 60_000;

export interface TotpVerifierDeps {
  /** The configured users (the running configuration's, read at each call). */
  users: () => ReadonlyMap<string, UserConfig>;
  store: Pick<Store, 'countMfaAttempts' | 'useMfaStep' | 'getMfaEnrolment'>;
  clock: Clock;
  /** Opens the secrets of enrolments. */
  secrets: MfaSecretSealer;
  /** Where `totpSecretEnv` is looked up (default: the process's environment). */
  env?: NodeJS.ProcessEnv;
}

export class TotpVerifier implements MfaVerifier {
  constructor(private readonly d: TotpVerifierDeps) {}

  /** Whether the configuration names the user's secret: then enrolment is the admin's, not theirs. */
  configured(userId: string): boolean {
    return this.d.users().get(userId)?.mfa !== undefined;
  }

  /** The secret the configuration names for the user (null: none, or it cannot be read). */
  private configuredSecret(userId: string): Buffer | null {
    const mfa = this.d.users().get(userId)?.mfa;
    let text: string | undefined;
    if (mfa?.totpSecretEnv) text = (this.d.env ?? process.env)[mfa.totpSecretEnv];
    else if (mfa?.totpSecretFile) {
      try { text = readFileSync(mfa.totpSecretFile, 'utf8'); } catch { text = undefined; }
    }
    return text?.trim() ? base32Decode(text.trim()) : null;
  }

  /** The secret codes are checked against: the configured one, else a confirmed enrolment's. */
  private async secretOf(userId: string): Promise<Buffer | null> {
    if (this.configured(userId)) return this.configuredSecret(userId);
    const enrolment = await this.d.store.getMfaEnrolment(userId);
    if (enrolment?.state !== 'confirmed') return null;
    return base32Decode(this.d.secrets.open(userId, enrolment.secret));
  }

  async isEnrolled(userId: string): Promise<boolean> {
    return (await this.secretOf(userId)) !== null;
  }

  async verify(userId: string, code: string): Promise<MfaResult> {
    return this.check(userId, code, () => this.secretOf(userId));
  }

  /**
   * Checks `code` against the secret `secret` gives (null: none, so every code is wrong),
   * counted and used once as any code of the user: how a request's code is checked, and an
   * enrolment's confirmation. The secret is not read while the user is locked out.
   */
  async check(userId: string, code: string, secret: () => Promise<Buffer | null>): Promise<MfaResult> {
    const now = this.d.clock.now();
    const attempts = await this.d.store.countMfaAttempts(userId, 1, now, MFA_WINDOW_MS);
    if (attempts.count > MFA_MAX_FAILURES) {
      return { ok: false, reason: 'locked', failures: attempts.count, retryAfterMs: Math.max(1000, attempts.since + MFA_WINDOW_MS - now) };
    }
    const key = await secret();
    const step = key ? matchTotp(key, code, now) : null;
    if (step === null) return { ok: false, reason: 'wrong', failures: attempts.count };
    // A right code is not a failure, whether or not it was used before (a replay is no guess).
    const after = await this.d.store.countMfaAttempts(userId, -1, now, MFA_WINDOW_MS);
    if (!(await this.d.store.useMfaStep(userId, step))) return { ok: false, reason: 'used', failures: after.count };
    return { ok: true };
  }
}
