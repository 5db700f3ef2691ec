// The API token in the OS keychain (macOS Keychain, Windows Credential Manager, the Secret
// Service on Linux) through @napi-rs/keyring, one entry per server URL. Never in the
// settings file, never sent to the renderer. The keyring's Entry is injected.

export const KEYCHAIN_SERVICE = 'dev.lapse.desktop';

/** What @napi-rs/keyring's `Entry` offers. */
export interface KeychainEntry {
  getPassword(): string | null | undefined;
  setPassword(password: string): void;
  deletePassword(): boolean;
}

export type EntryFactory = (service: string, account: string) => KeychainEntry;

export class KeychainUnavailableError extends Error {
  constructor(cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(
      `No keychain service is available to keep the token (${detail}). ` +
      (process.platform === 'linux'
        ? 'On Linux the token is kept by the Secret Service: start GNOME Keyring or KWallet in your session (a desktop login does this), then set the token again.'
        : 'Check that the system keychain is unlocked, then set the token again.'),
    );
    this.name = 'KeychainUnavailableError';
  }
}

/**
 * The @napi-rs/keyring factory, loaded on first use (a native module). On Linux the entry is
 * pinned to the Secret Service: left alone, the library falls back silently to the kernel
 * keyring, which lives in memory only, so the token would be gone after a restart (or, on
 * a headless machine, after the process ends) with nothing said. Pinned, a missing service
 * is an error the settings window shows.
 */
export async function napiKeyring(): Promise<EntryFactory> {
  const { Entry } = await import('@napi-rs/keyring');
  return (service, account) => new Entry(service, account, { linux: { store: 'secret-service' } });
}

export class TokenVault {
  constructor(private readonly entry: EntryFactory, private readonly service = KEYCHAIN_SERVICE) {}

  private open(account: string): KeychainEntry {
    if (!account) throw new Error('the keychain account (the server URL) is empty');
    try {
      return this.entry(this.service, account);
    } catch (err) {
      throw new KeychainUnavailableError(err);
    }
  }

  /** The token for `serverUrl`, or null when none is stored. */
  get(serverUrl: string): string | null {
    try {
      return this.open(serverUrl).getPassword() ?? null;
    } catch (err) {
      if (err instanceof KeychainUnavailableError) throw err;
      throw new KeychainUnavailableError(err);
    }
  }

  set(serverUrl: string, token: string): void {
    if (!/^\S{8,4096}$/.test(token)) throw new Error('the token must be at least 8 characters with no spaces');
    try {
      this.open(serverUrl).setPassword(token);
    } catch (err) {
      if (err instanceof KeychainUnavailableError) throw err;
      throw new KeychainUnavailableError(err);
    }
  }

  clear(serverUrl: string): void {
    try {
      this.open(serverUrl).deletePassword();
    } catch (err) {
      if (err instanceof KeychainUnavailableError) throw err;
      throw new KeychainUnavailableError(err);
    }
  }

  /**
   * Null when the keychain works; the reason to show the person when it does not. Reading
   * alone proves nothing (a missing service reads as "no token"), so it writes and deletes
   * a probe entry.
   */
  problem(): string | null {
    try {
      this.set('lapse-keychain-probe', 'probe-value');
      this.clear('lapse-keychain-probe');
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }
}
