// MFA verification for flows that require it: each user's TOTP secret comes from an env
// variable or a file named in the configuration. A code is accepted once, and never one older
// than the last used (atomic in the store, so two replicas cannot both accept it). Attempts
// are limited per user, in the store (shared by replicas): every attempt counts when it
// begins, and a right code takes its count back, so no number of simultaneous guesses gets
// past the limit; past MFA_MAX_FAILURES in MFA_WINDOW_MS, codes are not looked at until the
// window ends.

import { readFileSync } from 'node:fs';
import type { UserConfig } from '../domain/config.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from '../../../common/clock.ts';
import type { MfaResult, MfaVerifier } from '../engine/engine.ts';
import { base32Decode, matchTotp } from './totp.ts';

/** Wrong codes a user may give within MFA_WINDOW_MS; after that, none is looked at until the window ends. */
export const MFA_MAX_FAILURES = 5;
export const MFA_WINDOW_MS = 15 * 60_000;

export class TotpVerifier implements MfaVerifier {
  constructor(
    private readonly users: () => ReadonlyMap<string, UserConfig>,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  private secretOf(userId: string): Buffer | null {
    const mfa = this.users().get(userId)?.mfa;
    let text: string | undefined;
    if (mfa?.totpSecretEnv) text = this.env[mfa.totpSecretEnv];
    else if (mfa?.totpSecretFile) {
      try { text = readFileSync(mfa.totpSecretFile, 'utf8'); } catch { text = undefined; }
    }
    return text?.trim() ? base32Decode(text.trim()) : null;
  }

  isEnrolled(userId: string): boolean {
    return this.secretOf(userId) !== null;
  }

  async verify(userId: string, code: string): Promise<MfaResult> {
    const now = this.clock.now();
    const attempts = await this.store.countMfaAttempts(userId, 1, now, MFA_WINDOW_MS);
    if (attempts.count > MFA_MAX_FAILURES) {
      return { ok: false, reason: 'locked', failures: attempts.count, retryAfterMs: Math.max(1000, attempts.since + MFA_WINDOW_MS - now) };
    }
    const secret = this.secretOf(userId);
    const step = secret ? matchTotp(secret, code, now) : null;
    if (step === null) return { ok: false, reason: 'wrong', failures: attempts.count };
    // A right code is not a failure, whether or not it was used before (a replay is no guess).
    const after = await this.store.countMfaAttempts(userId, -1, now, MFA_WINDOW_MS);
    if (!(await this.store.useMfaStep(userId, step))) return { ok: false, reason: 'used', failures: after.count };
    return { ok: true };
  }
}
