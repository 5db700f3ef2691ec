// The desktop settings as the settings window reads and changes them (with whether a token
// is kept and any keychain problem), and the team server's token in the keychain: read to
// connect, set or cleared from the window (either one reconnects).

import type { DesktopSettings } from '../../common/lapse-api.ts';
import { SettingsError, type SettingsStore } from './settings.ts';
import type { TokenVault } from './keychain.ts';
import { CallError } from './server-api.ts';
import type { Shell } from './shell.ts';

export interface SettingsAndTokenDeps {
  settings: SettingsStore;
  /** Null when the keyring module could not load at all; its error is `keychainLoadError`. */
  vault: TokenVault | null;
  keychainLoadError?: string;
  shell: Pick<Shell, 'setLaunchAtLogin'>;
  reconnect(): Promise<void>;
  /** Reads from the server again, after `delayMs`. */
  requestRefresh(delayMs: number): void;
}

export class SettingsAndToken {
  private keychainProblem: string | null = null;
  private keychainProbed = false;

  constructor(private readonly d: SettingsAndTokenDeps) {}

  /** The token kept for a team server; null when none is, or the keychain cannot be read (its problem is kept). */
  tokenFor(url: string): string | null {
    let token: string | null = null;
    if (this.d.vault) {
      try {
        token = this.d.vault.get(url);
        this.keychainProblem = null;
      } catch (err) {
        this.keychainProblem = (err as Error).message;
      }
    } else this.keychainProblem = this.d.keychainLoadError ?? 'the keychain module could not be loaded';
    return token;
  }

  desktopSettings(): DesktopSettings {
    const s = this.d.settings.get();
    let hasToken = false;
    if (s.serverUrl && this.d.vault) {
      try {
        hasToken = this.d.vault.get(s.serverUrl) !== null;
      } catch (err) {
        this.keychainProblem = (err as Error).message;
      }
    }
    if (!this.d.vault) this.keychainProblem = this.d.keychainLoadError ?? 'the keychain module could not be loaded';
    else if (!s.serverUrl && !this.keychainProbed) {
      // No server yet (embedded mode): find out now whether a token could be kept, so the
      // settings window says so before the person types one.
      this.keychainProbed = true;
      this.keychainProblem = this.d.vault.problem();
    }
    return {
      serverUrl: s.serverUrl, extraReminderMinutes: s.extraReminderMinutes, doNotDisturb: s.doNotDisturb,
      launchAtLogin: s.launchAtLogin, embedded: s.embedded, hasToken, keychainProblem: this.keychainProblem,
    };
  }

  async updateSettings(update: unknown): Promise<DesktopSettings> {
    const before = this.d.settings.get();
    try {
      this.d.settings.update(update);
    } catch (err) {
      if (err instanceof SettingsError) throw new CallError({ status: 400, title: 'Invalid setting', detail: err.message, field: err.field });
      throw err;
    }
    const after = this.d.settings.get();
    if (after.launchAtLogin !== before.launchAtLogin) this.d.shell.setLaunchAtLogin(after.launchAtLogin);
    if (after.embedded !== before.embedded || after.serverUrl !== before.serverUrl) await this.d.reconnect();
    else this.d.requestRefresh(0);
    return this.desktopSettings();
  }

  async setToken(token: string): Promise<void> {
    const s = this.d.settings.get();
    if (!s.serverUrl) throw new CallError({ status: 400, title: 'No server', detail: 'set the server URL before the token', field: 'serverUrl' });
    if (!this.d.vault) throw new CallError({ status: 503, title: 'No keychain', detail: this.d.keychainLoadError ?? 'the keychain module could not be loaded', field: 'token' });
    try {
      this.d.vault.set(s.serverUrl, token.trim());
    } catch (err) {
      this.keychainProblem = (err as Error).message;
      throw new CallError({ status: 503, title: 'No keychain', detail: (err as Error).message, field: 'token' });
    }
    if (!s.embedded) await this.d.reconnect();
  }

  async clearToken(): Promise<void> {
    const s = this.d.settings.get();
    if (s.serverUrl && this.d.vault) this.d.vault.clear(s.serverUrl);
    if (!s.embedded) await this.d.reconnect();
  }
}
