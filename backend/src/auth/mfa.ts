// MFA verification for flows that require it: each user's TOTP secret comes from an env
// variable or a file named in the configuration; a code is accepted once.

import { readFileSync } from 'node:fs';
import type { UserConfig } from '../domain/config.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from '../engine/clock.ts';
import type { MfaVerifier } from '../engine/engine.ts';
import { base32Decode, matchTotp } from './totp.ts';

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

  async verify(userId: string, code: string): Promise<boolean> {
    const secret = this.secretOf(userId);
    if (!secret) return false;
    const step = matchTotp(secret, code, this.clock.now());
    if (step === null) return false;
    // Replay protection: a step is accepted once, and never one older than the last used.
    const key = `mfa-last-step:${userId}`;
    const last = Number((await this.store.getMeta(key)) ?? '-1');
    if (step <= last) return false;
    await this.store.setMeta(key, String(step));
    return true;
  }
}
