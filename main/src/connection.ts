// The connection to a Lapse server: the embedded backend (started in this process) or a
// team server with the token from the keychain; the events stream and the connection's
// state (told to the windows at each change); who is signed in, with the server's expiry
// warnings (both read from `me`).

import type { ConnectionState as UiConnectionState } from '../../common/lapse-api.ts';
import { EventStream } from '../../common/event-stream.ts';
import type { StreamEvent } from '../../common/notifications.ts';
import { serverWarningOffsetsMs } from '../../common/warning-planner.ts';
import type { Connection } from './menu-model.ts';
import type { SettingsStore } from './settings.ts';
import { CallError, createServerApi, type ServerMethods } from './server-api.ts';
import type { Shell } from './shell.ts';

export interface EmbeddedHandle {
  url: string;
  token: string;
  /** Revokes that fell due while the app was closed, run at this start (absent: not counted). */
  overdueRevokes?: number;
  stop(): Promise<void>;
}

export interface ConnectionDeps {
  settings: Pick<SettingsStore, 'get'>;
  shell: Pick<Shell, 'broadcast'>;
  startEmbedded(): Promise<EmbeddedHandle>;
  /** A team server's token from the keychain; null when none is kept or it cannot be read. */
  tokenFor(url: string): string | null;
  /** Where the events stream resumes: the last event handled. */
  lastEventId(): string | null;
  onEvent(e: StreamEvent): void;
  /** Events were missed that the stream cannot replay: read everything again. */
  onReload(): void;
  /** The events stream is online (again). */
  onOnline(): void;
  /** The connection's state changed. */
  onChange(): void;
  /** Who is signed in (and so the server's warning offsets) became known, changed or unknown. */
  onIdentity(): void;
  /** The embedded backend has started (once per start). */
  onEmbeddedStarted?(e: EmbeddedHandle): void;
}

/** Who is signed in, as `me` said, with the server's expiry warnings. */
export interface Identity {
  id: string;
  /** The server's `settings.expiryWarnings` in ms, latest first; null when the server does not say. */
  expiryWarningsMs: number[] | null;
  /** Has the admin role (sees stuck revocations). */
  admin: boolean;
}

function identityOf(me: { id: string; expiryWarnings?: unknown; roles?: unknown }): Identity {
  return { id: me.id, expiryWarningsMs: serverWarningOffsetsMs(me.expiryWarnings), admin: Array.isArray(me.roles) && me.roles.includes('admin') };
}

/** What the tray says when the server refuses the kept token (it expired, or was revoked). */
export const SIGN_IN_ENDED = 'Your sign-in has ended: sign in again from Settings';

/**
 * Why the connection is offline, in the person's words: a token the server refuses (401,
 * from `me` or from the events stream, whose message names the status) means signing in again.
 */
export function offlineDetail(err: unknown): string {
  if (err instanceof CallError) return err.data.status === 401 ? SIGN_IN_ENDED : err.data.detail;
  const detail = err instanceof Error ? err.message : String(err);
  return /^the server refused the token \(401\)/.test(detail) ? SIGN_IN_ENDED : detail;
}

/** The connection's state as the windows show it. */
export function uiConnectionState(c: Connection): UiConnectionState {
  return c.state === 'online' ? 'online' : c.state === 'connecting' ? 'reconnecting' : 'offline';
}

export class ServerConnection {
  private current: Connection = { state: 'connecting' };
  private serverApi: ServerMethods | null = null;
  private stream: EventStream | null = null;
  private embedded: EmbeddedHandle | null = null;
  private identity: Identity | null = null;
  private generation = 0;

  constructor(private readonly d: ConnectionDeps) {}

  get state(): Connection {
    return this.current;
  }

  /** The server's API; null while there is no server to call. */
  get api(): ServerMethods | null {
    return this.serverApi;
  }

  /** Who is signed in; null until the server has said. */
  get me(): string | null {
    return this.identity?.id ?? null;
  }

  /** Whether the person signed in has the admin role, as `me` said (false until known). */
  get isAdmin(): boolean {
    return this.identity?.admin ?? false;
  }

  /** Whether the backend runs embedded in this app (its access is revoked only while the app runs). */
  get isEmbedded(): boolean {
    return this.embedded !== null;
  }

  /**
   * The server's expiry warning offsets in ms, latest first, as `me` said; null while not
   * known (not connected yet, `me` not answered yet, or a server that does not say).
   */
  get serverWarningOffsetsMs(): number[] | null {
    return this.identity?.expiryWarningsMs ?? null;
  }

  /** Connects as the settings say: embedded (backend in this process) or a team server. */
  async connect(): Promise<void> {
    const gen = ++this.generation;
    this.stream?.close();
    this.stream = null;
    this.serverApi = null;
    const s = this.d.settings.get();
    let url: string;
    let token: string | null;
    if (s.embedded) {
      if (this.embedded === null) {
        this.setState({ state: 'connecting' });
        try {
          this.embedded = await this.d.startEmbedded();
          this.d.onEmbeddedStarted?.(this.embedded);
        } catch (err) {
          this.setState({ state: 'offline', detail: `the embedded backend could not start: ${(err as Error).message}` });
          return;
        }
      }
      url = this.embedded.url;
      token = this.embedded.token;
    } else {
      await this.stopEmbedded();
      url = s.serverUrl;
      token = this.d.tokenFor(url);
      if (!url || !token) {
        this.setState({ state: 'not-configured' });
        return;
      }
    }
    if (gen !== this.generation) return;
    const api = createServerApi(url, token);
    this.serverApi = api;
    try {
      const me = await api.me();
      if (gen === this.generation) this.setIdentity(identityOf(me));
    } catch (err) {
      if (gen === this.generation) this.setIdentity(null);
      this.setState({ state: 'offline', detail: offlineDetail(err) });
    }
    if (gen !== this.generation) return;
    this.stream = new EventStream({
      url, token, lastEventId: this.d.lastEventId(),
      onEvent: (e) => this.d.onEvent(e),
      onReload: () => {
        if (gen === this.generation) this.d.onReload();
      },
      onState: (st, detail) => {
        if (gen !== this.generation) return;
        if (st === 'online') {
          this.setState({ state: 'online' });
          if (this.identity === null) void this.serverApi?.me().then((m) => {
            if (gen === this.generation) this.setIdentity(identityOf(m));
          }, () => {});
          this.d.onOnline();
        } else if (st === 'offline') this.setState({ state: 'offline', detail: detail ? offlineDetail(detail) : 'disconnected' });
      },
    });
  }

  private setIdentity(next: Identity | null): void {
    const before = JSON.stringify(this.identity);
    this.identity = next;
    if (JSON.stringify(next) !== before) this.d.onIdentity();
  }

  setState(c: Connection): void {
    this.current = c;
    const ui = uiConnectionState(c);
    this.d.shell.broadcast({ kind: 'connection', state: ui, ...(c.state === 'offline' ? { detail: c.detail } : {}) });
    this.d.onChange();
  }

  /** Ends the events stream; nothing it started reports any more. */
  async close(): Promise<void> {
    this.generation++;
    this.stream?.close();
    await this.stream?.done;
    this.stream = null;
  }

  async stopEmbedded(): Promise<void> {
    const e = this.embedded;
    this.embedded = null;
    await e?.stop();
  }
}
