// The desktop settings as the settings window reads and changes them (with whether a token
// is kept and any keychain problem), and the team server's token in the keychain: read to
// connect, set or cleared from the window, or given by the server's single sign-on (each
// one reconnects); a token single sign-on gave is renewed at the server before it ends.

import { hostname } from 'node:os';
import type { DesktopSettings } from '../../common/lapse-api.ts';
import { SettingsError, type SettingsStore } from './settings.ts';
import type { TokenVault } from './keychain.ts';
import { CallError } from './server-api.ts';
import type { Shell } from './shell.ts';
import { singleSignOnOffered, ssoSignIn, SsoSignInError } from '../../backend/src/auth/app-sign-in.ts';

export interface SettingsAndTokenDeps {
  settings: SettingsStore;
  /** Null when the keyring module could not load at all; its error is `keychainLoadError`. */
  vault: TokenVault | null;
  keychainLoadError?: string;
  shell: Pick<Shell, 'setLaunchAtLogin' | 'openExternal'>;
  /** How long a single sign-on waits for the browser (default 5 minutes). */
  ssoTimeoutMs?: number;
  reconnect(): Promise<void>;
  /** Reads from the server again, after `delayMs`. */
  requestRefresh(delayMs: number): void;
}

/** The status of each way a single sign-on can fail, as the renderer is told it. */
const SSO_STATUS: Record<SsoSignInError['reason'], number> = { timeout: 408, state: 400, refused: 401, unreachable: 0, browser: 500, canceled: 409 };

export class SettingsAndToken {
  private keychainProblem: string | null = null;
  private keychainProbed = false;
  /** The single sign-on waiting for the browser, if any: a newer one replaces it. */
  private ssoUnderWay: AbortController | null = null;

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
    this.keepToken(s.serverUrl, token.trim());
    if (!s.embedded) await this.d.reconnect();
  }

  /** Whether the team server offers single sign-on; null in embedded mode, with no server, or when it cannot be asked. */
  async ssoAvailable(): Promise<boolean | null> {
    const s = this.d.settings.get();
    if (s.embedded || !s.serverUrl) return null;
    return singleSignOnOffered(s.serverUrl);
  }

  /**
   * Signs in through the team server's single sign-on in the system browser; the token it
   * gives is kept in the keychain as `setToken` keeps one, then the app reconnects. With
   * `stepUp`, a fresh sign-in for that flow, which requires MFA (the new token carries it).
   */
  async signInWithSso(stepUp?: string): Promise<{ user: string; expiresAt: string | null }> {
    const s = this.d.settings.get();
    if (s.embedded) throw new CallError({ status: 400, title: 'No server', detail: 'single sign-on is for a team server; embedded mode has none', field: 'embedded' });
    this.keepToken(s.serverUrl, null);
    this.ssoUnderWay?.abort();
    const mine = new AbortController();
    this.ssoUnderWay = mine;
    let got;
    try {
      got = await ssoSignIn({
        serverUrl: s.serverUrl, openBrowser: (url) => this.d.shell.openExternal(url), timeoutMs: this.d.ssoTimeoutMs, signal: mine.signal, name: `Lapse desktop on ${hostname()}`,
        ...(stepUp ? { stepUp } : {}),
      });
    } catch (err) {
      if (err instanceof SsoSignInError) throw new CallError({ status: SSO_STATUS[err.reason], title: 'Not signed in', detail: err.message });
      throw err;
    } finally {
      if (this.ssoUnderWay === mine) this.ssoUnderWay = null;
    }
    this.keepToken(s.serverUrl, got.token);
    if (!this.d.settings.get().embedded) await this.d.reconnect();
    return { user: got.user, expiresAt: got.expiresAt };
  }

  /**
   * Renews the kept token at the team server once less than a third of its lifetime is left
   * (`POST /api/v1/tokens/renew`: the server renews only a token single sign-on made, while
   * the identity provider renews its person): the new token replaces it in the keychain and
   * the app reconnects. Whatever fails leaves the token as it is; when it ends, the app says
   * to sign in again. Returns whether it was renewed.
   */
  async renewTokenIfDue(now: number): Promise<boolean> {
    const s = this.d.settings.get();
    if (s.embedded || !s.serverUrl) return false;
    const token = this.tokenFor(s.serverUrl);
    const id = token ? /^lapse_([a-z0-9]{12})_/.exec(token)?.[1] : undefined;
    if (!token || !id) return false;
    const base = s.serverUrl.replace(/\/+$/, '');
    const headers = { authorization: `Bearer ${token}` };
    const listed = await fetch(`${base}/api/v1/tokens`, { headers, signal: AbortSignal.timeout(10_000) }).catch(() => null);
    if (!listed?.ok) return false;
    const mine = ((await listed.json()) as { tokens: { id: string; createdAt: string; expiresAt: string | null }[] }).tokens.find((t) => t.id === id);
    if (!mine?.expiresAt) return false;
    const end = Date.parse(mine.expiresAt);
    if (end - now > (end - Date.parse(mine.createdAt)) / 3) return false;
    const renewed = await fetch(`${base}/api/v1/tokens/renew`, { method: 'POST', headers, signal: AbortSignal.timeout(10_000) }).catch(() => null);
    if (renewed?.status !== 201) return false;
    this.keepToken(s.serverUrl, ((await renewed.json()) as { token: string }).token);
    await this.d.reconnect();
    return true;
  }

  /** Keeps `token` in the keychain for `serverUrl` (null: only checks that it could be kept). Throws CallError. */
  private keepToken(serverUrl: string, token: string | null): void {
    if (!serverUrl) throw new CallError({ status: 400, title: 'No server', detail: 'set the server URL before the token', field: 'serverUrl' });
    if (!this.d.vault) throw new CallError({ status: 503, title: 'No keychain', detail: this.d.keychainLoadError ?? 'the keychain module could not be loaded', field: 'token' });
    if (token === null) return;
    try {
      this.d.vault.set(serverUrl, token);
    } catch (err) {
      this.keychainProblem = (err as Error).message;
      throw new CallError({ status: 503, title: 'No keychain', detail: (err as Error).message, field: 'token' });
    }
  }

  async clearToken(): Promise<void> {
    const s = this.d.settings.get();
    if (s.serverUrl && this.d.vault) this.d.vault.clear(s.serverUrl);
    if (!s.embedded) await this.d.reconnect();
  }
}
