// The tray app's state and behaviour, without Electron: connects (team or embedded mode),
// follows the events stream, keeps the menu and tray icon in step (rebuilt within a second
// of any change), gives notifications once, runs menu actions and answers the renderer's
// IPC calls. The Electron shell (main.ts) implements `Shell` and wires the rest.

import type { AccessRequest, ApiErrorData, DesktopSettings, StreamMessage, ConnectionState as UiConnectionState } from '../../common/lapse-api.ts';
import type { Clock } from '../../common/clock.ts';
import { EventStream } from '../../common/event-stream.ts';
import { SeenKeys } from '../../common/seen-keys.ts';
import { expiringNotification, isQuiet, planEventNotification, type PlannedNotification, type StreamEvent } from '../../common/notifications.ts';
import { WarningScheduler, type Timers } from '../../common/warning-planner.ts';
import { msUntilTextChanges } from '../../common/countdown.ts';
import { describeAccess } from '../../common/describe.ts';
import { buildMenu, trayIconState, trayToolTip, type Connection, type MenuAction, type MenuItem, type MenuState, type TrayIconState, type View } from './menu-model.ts';
import { SettingsError, type SettingsStore } from './settings.ts';
import type { TokenVault } from './keychain.ts';
import { methodOfChannel, validateCall, IpcPayloadError } from './ipc-validation.ts';
import { CallError, accessDetailsText, createServerApi, type ServerMethods } from './server-api.ts';

export interface Shell {
  render(menu: MenuItem[], icon: TrayIconState, toolTip: string): void;
  notify(n: PlannedNotification): void;
  broadcast(message: StreamMessage): void;
  confirm(message: string, detail: string): Promise<boolean>;
  copyText(text: string): void;
  openWindow(view: View, options?: { requestId?: string; prefill?: unknown }): void;
  quit(): void;
  setLaunchAtLogin(on: boolean): void;
}

export interface EmbeddedHandle {
  url: string;
  token: string;
  stop(): Promise<void>;
}

export interface ControllerDeps {
  settings: SettingsStore;
  /** Null when the keyring module could not load at all; its error is `keychainLoadError`. */
  vault: TokenVault | null;
  keychainLoadError?: string;
  shell: Shell;
  clock: Clock;
  timers: Timers;
  startEmbedded(): Promise<EmbeddedHandle>;
  /** The longest wait between a change and the rebuilt menu (default 250 ms). */
  debounceMs?: number;
}

const TRACKED_STATUSES = ['active', 'pending', 'scheduled', 'granting'] as const;

export class Controller {
  private api: ServerMethods | null = null;
  private stream: EventStream | null = null;
  private embedded: EmbeddedHandle | null = null;
  private connection: Connection = { state: 'connecting' };
  private me: string | null = null;
  private state: Omit<MenuState, 'connection' | 'now'> = { catalog: [], favorites: [], myRequests: [], approvalsCount: 0 };
  private approvals: AccessRequest[] = [];
  private readonly seen: SeenKeys;
  private readonly warnings: WarningScheduler;
  private renderTimer: unknown = null;
  private refreshTimer: unknown = null;
  private countdownTimer: unknown = null;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private generation = 0;
  private keychainProblem: string | null = null;
  private keychainProbed = false;

  constructor(private readonly d: ControllerDeps) {
    this.seen = new SeenKeys(d.settings.get().notificationState);
    this.warnings = new WarningScheduler(d.clock, d.timers, (w) => {
      const r = this.state.myRequests.find((x) => x.id === w.requestId);
      this.deliver(expiringNotification(w, r ? { label: describeAccess(r) } : undefined));
    }, this.offsetsMs());
  }

  private offsetsMs(): number[] {
    return this.d.settings.get().notificationOffsetsMinutes.map((m) => m * 60_000);
  }

  get connectionState(): Connection {
    return this.connection;
  }

  /** Connects as the settings say: embedded (backend in this process) or a team server. */
  async connect(): Promise<void> {
    const gen = ++this.generation;
    this.stream?.close();
    this.stream = null;
    this.api = null;
    const s = this.d.settings.get();
    let url: string;
    let token: string | null;
    if (s.embedded) {
      if (this.embedded === null) {
        this.setConnection({ state: 'connecting' });
        try {
          this.embedded = await this.d.startEmbedded();
        } catch (err) {
          this.setConnection({ state: 'offline', detail: `the embedded backend could not start: ${(err as Error).message}` });
          return;
        }
      }
      url = this.embedded.url;
      token = this.embedded.token;
    } else {
      await this.stopEmbedded();
      url = s.serverUrl;
      token = null;
      if (this.d.vault) {
        try {
          token = this.d.vault.get(url);
          this.keychainProblem = null;
        } catch (err) {
          this.keychainProblem = (err as Error).message;
        }
      } else this.keychainProblem = this.d.keychainLoadError ?? 'the keychain module could not be loaded';
      if (!url || !token) {
        this.setConnection({ state: 'not-configured' });
        return;
      }
    }
    if (gen !== this.generation) return;
    this.api = createServerApi(url, token);
    try {
      this.me = (await this.api.me()).id;
    } catch (err) {
      this.me = null;
      this.setConnection({ state: 'offline', detail: err instanceof CallError ? err.data.detail : (err as Error).message });
    }
    if (gen !== this.generation) return;
    this.stream = new EventStream({
      url, token, lastEventId: this.seen.lastEventId,
      onEvent: (e) => this.onEvent(e),
      onState: (st, detail) => {
        if (gen !== this.generation) return;
        if (st === 'online') {
          this.setConnection({ state: 'online' });
          if (this.me === null) void this.api?.me().then((m) => (this.me = m.id), () => {});
          this.requestRefresh(0);
        } else if (st === 'offline') this.setConnection({ state: 'offline', detail: detail ?? 'disconnected' });
      },
    });
  }

  private setConnection(c: Connection): void {
    this.connection = c;
    const ui: UiConnectionState = c.state === 'online' ? 'online' : c.state === 'connecting' ? 'reconnecting' : 'offline';
    this.d.shell.broadcast({ kind: 'connection', state: ui, ...(c.state === 'offline' ? { detail: c.detail } : {}) });
    this.scheduleRender();
  }

  // ── events and notifications ─────────────────────────────────────────────────────────

  private eventQueue: Promise<void> = Promise.resolve();

  private onEvent(e: StreamEvent): void {
    this.d.shell.broadcast({ kind: 'event', event: e });
    // One at a time and in order: a notification may need the request's name first.
    this.eventQueue = this.eventQueue.then(() => this.notifyAbout(e)).catch(() => {});
    this.requestRefresh();
  }

  private async notifyAbout(e: StreamEvent): Promise<void> {
    const me = this.me;
    const first = me ? planEventNotification(e, me) : null;
    if (me && first && !this.seen.has(first.key)) {
      let r = e.requestId ? (this.state.myRequests.find((x) => x.id === e.requestId) ?? this.approvals.find((x) => x.id === e.requestId)) : undefined;
      if (!r && e.requestId && this.api) r = await this.api.getRequest(e.requestId).catch(() => undefined);
      const about = r ? { label: describeAccess(r), hasAccessDetails: r.requester !== me || r.grants.some((g) => g.accessDetails !== null) } : undefined;
      this.deliver(planEventNotification(e, me, about) ?? first);
    }
    this.seen.lastEventId = e.id;
    this.saveSeen();
  }

  /** Shows a notification once (across restarts), unless do-not-disturb is on. */
  private deliver(n: PlannedNotification): void {
    if (!this.seen.add(n.key)) return;
    this.saveSeen();
    const s = this.d.settings.get();
    if (isQuiet({ enabled: s.doNotDisturb }, this.d.clock.now())) return;
    this.d.shell.notify(n);
  }

  private saveSeen(): void {
    this.d.settings.patch({ notificationState: this.seen.toJSON() });
  }

  /** A click on a notification or one of its actions. */
  async onNotificationAction(n: PlannedNotification, action: 'click' | 'copy-access-details' | 'extend' | 'revoke'): Promise<void> {
    if (!n.requestId) return;
    if (action === 'click') {
      if (n.onClick) this.d.shell.openWindow(n.onClick.view, { requestId: n.onClick.requestId });
      return;
    }
    const r = this.state.myRequests.find((x) => x.id === n.requestId);
    if (action === 'copy-access-details') return this.runAction({ kind: 'copy-access-details', requestId: n.requestId });
    if (action === 'extend') return this.runAction({ kind: 'extend', requestId: n.requestId, duration: r?.duration ?? '1h' });
    return this.runAction({ kind: 'revoke', requestId: n.requestId, confirm: r ? r.breakGlass || r.bundleId !== null : true });
  }

  // ── state ────────────────────────────────────────────────────────────────────────────

  /** Refreshes from the server after `delayMs`; several changes close together make one refresh. */
  requestRefresh(delayMs = 100): void {
    if (this.refreshTimer !== null) return;
    this.refreshTimer = this.d.timers.setTimeout(() => {
      this.refreshTimer = null;
      void this.refresh();
    }, delayMs);
  }

  async refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        const api = this.api;
        if (!api) break;
        try {
          const [catalog, favorites, myRequests, approvals] = await Promise.all([
            api.catalog(), api.listFavorites(), api.listMyRequests({ statuses: [...TRACKED_STATUSES], limit: 200 }), api.approvals(),
          ]);
          if (api !== this.api) break;
          this.state = { catalog: catalog.flows, favorites: favorites.favorites, myRequests, approvalsCount: approvals.length };
          this.approvals = approvals;
          this.warnings.setOffsets(this.offsetsMs());
          this.warnings.update(myRequests.filter((r) => r.status === 'active').map((r) => ({ requestId: r.id, expiresAt: r.expiresAt === null ? null : Date.parse(r.expiresAt) })));
          this.scheduleRender();
        } catch (err) {
          if (err instanceof CallError && err.data.status === 0) this.setConnection({ state: 'offline', detail: err.data.detail });
        }
      } while (this.refreshAgain);
    })();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = null;
    }
  }

  menuState(): MenuState {
    return { ...this.state, connection: this.connection, now: this.d.clock.now() };
  }

  private scheduleRender(): void {
    if (this.renderTimer !== null) return;
    this.renderTimer = this.d.timers.setTimeout(() => {
      this.renderTimer = null;
      this.render();
    }, this.d.debounceMs ?? 250);
  }

  /** Builds the menu and icon now, and plans the next redraw for the countdowns. */
  render(): void {
    const s = this.menuState();
    const warnWindow = Math.max(0, ...this.offsetsMs());
    this.d.shell.render(buildMenu(s), trayIconState(s, warnWindow), trayToolTip(s));
    if (this.countdownTimer !== null) this.d.timers.clearTimeout(this.countdownTimer);
    this.countdownTimer = null;
    const waits = s.myRequests.filter((r) => r.status === 'active')
      .map((r) => msUntilTextChanges(r.expiresAt === null ? null : Date.parse(r.expiresAt), s.now))
      .filter((w): w is number => w !== null);
    if (waits.length) {
      this.countdownTimer = this.d.timers.setTimeout(() => {
        this.countdownTimer = null;
        this.render();
      }, Math.min(...waits));
    }
  }

  // ── menu actions ─────────────────────────────────────────────────────────────────────

  async runAction(a: MenuAction): Promise<void> {
    const api = this.api;
    try {
      switch (a.kind) {
        case 'quit': return this.d.shell.quit();
        case 'open': return this.d.shell.openWindow(a.view, a.requestId ? { requestId: a.requestId } : undefined);
        case 'open-request': return this.d.shell.openWindow('request', { prefill: a.prefill });
        case 'reconnect': return await this.connect();
        default: break;
      }
      if (!api) return;
      switch (a.kind) {
        case 'request-favorite': await api.requestFromFavorite(a.favoriteId); break;
        case 'request': await api.createRequest(a.input); break;
        case 'copy-access-details': this.d.shell.copyText(accessDetailsText(await api.accessDetails(a.requestId))); return;
        case 'extend': await api.extend(a.requestId, a.duration); break;
        case 'cancel': await api.cancel(a.requestId); break;
        case 'revoke': {
          if (a.confirm) {
            const r = this.state.myRequests.find((x) => x.id === a.requestId);
            const what = r ? describeAccess(r) : a.requestId;
            const ok = await this.d.shell.confirm(`Revoke ${what} now?`, r?.breakGlass ? 'This is break-glass access; revoking ends it for good.' : 'Every grant of this bundle is revoked at once.');
            if (!ok) return;
          }
          await api.revoke(a.requestId);
          break;
        }
      }
      this.requestRefresh(0);
    } catch (err) {
      const detail = err instanceof CallError ? err.data.detail : (err as Error).message;
      this.d.shell.notify({ key: `error:${Date.now()}`, title: 'Lapse could not do that', body: detail, actions: [], onClick: null, requestId: null });
    }
  }

  // ── IPC from the renderer ────────────────────────────────────────────────────────────

  /** One renderer call: channel and arguments validated, then answered. Throws CallError. */
  async call(channel: unknown, args: unknown): Promise<unknown> {
    let method;
    let a: unknown[];
    try {
      method = methodOfChannel(channel);
      a = validateCall(method, args);
    } catch (err) {
      if (err instanceof IpcPayloadError) throw new CallError({ status: 400, title: 'Invalid call', detail: err.message, field: err.path });
      throw err;
    }
    switch (method) {
      case 'connectionState': return this.connection.state === 'online' ? 'online' : this.connection.state === 'connecting' ? 'reconnecting' : 'offline';
      case 'getSettings': return this.desktopSettings();
      case 'updateSettings': return this.updateSettings(a[0]);
      case 'setToken': return this.setToken(a[0] as string);
      case 'clearToken': return this.clearToken();
      default: {
        if (!this.api) throw new CallError({ status: 0, title: 'Not connected', detail: this.connection.state === 'not-configured' ? 'set the server URL and token in Settings' : 'the server is not reachable; Lapse keeps retrying' });
        const fn = this.api[method] as (...x: unknown[]) => Promise<unknown>;
        const result = await fn(...a);
        if (['createRequest', 'approve', 'deny', 'cancel', 'revoke', 'extend', 'createFavorite', 'deleteFavorite', 'requestFromFavorite'].includes(method)) this.requestRefresh(0);
        return result;
      }
    }
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
      serverUrl: s.serverUrl, notificationOffsetsMinutes: s.notificationOffsetsMinutes, doNotDisturb: s.doNotDisturb,
      launchAtLogin: s.launchAtLogin, embedded: s.embedded, hasToken, keychainProblem: this.keychainProblem,
    };
  }

  private async updateSettings(update: unknown): Promise<DesktopSettings> {
    const before = this.d.settings.get();
    try {
      this.d.settings.update(update);
    } catch (err) {
      if (err instanceof SettingsError) throw new CallError({ status: 400, title: 'Invalid setting', detail: err.message, field: err.field });
      throw err;
    }
    const after = this.d.settings.get();
    if (after.launchAtLogin !== before.launchAtLogin) this.d.shell.setLaunchAtLogin(after.launchAtLogin);
    if (after.embedded !== before.embedded || after.serverUrl !== before.serverUrl) await this.connect();
    else this.requestRefresh(0);
    return this.desktopSettings();
  }

  private async setToken(token: string): Promise<void> {
    const s = this.d.settings.get();
    if (!s.serverUrl) throw new CallError({ status: 400, title: 'No server', detail: 'set the server URL before the token', field: 'serverUrl' });
    if (!this.d.vault) throw new CallError({ status: 503, title: 'No keychain', detail: this.d.keychainLoadError ?? 'the keychain module could not be loaded', field: 'token' });
    try {
      this.d.vault.set(s.serverUrl, token.trim());
    } catch (err) {
      this.keychainProblem = (err as Error).message;
      throw new CallError({ status: 503, title: 'No keychain', detail: (err as Error).message, field: 'token' });
    }
    if (!s.embedded) await this.connect();
  }

  private async clearToken(): Promise<void> {
    const s = this.d.settings.get();
    if (s.serverUrl && this.d.vault) this.d.vault.clear(s.serverUrl);
    if (!s.embedded) await this.connect();
  }

  private async stopEmbedded(): Promise<void> {
    const e = this.embedded;
    this.embedded = null;
    await e?.stop();
  }

  async stop(): Promise<void> {
    this.generation++;
    this.stream?.close();
    await this.stream?.done;
    this.stream = null;
    this.warnings.stop();
    for (const t of [this.renderTimer, this.refreshTimer, this.countdownTimer]) if (t !== null) this.d.timers.clearTimeout(t);
    this.renderTimer = this.refreshTimer = this.countdownTimer = null;
    await this.stopEmbedded();
  }
}

/** A CallError as plain data for IPC (the preload turns it back into an ApiError). */
export function errorData(err: unknown): ApiErrorData {
  if (err instanceof CallError) return err.data;
  return { status: 500, title: 'Error', detail: err instanceof Error ? err.message : String(err) };
}
