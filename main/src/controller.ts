// The tray app's state and behaviour, without Electron: puts together the connection and
// its events stream (connection.ts), what the menu shows (menu-data.ts) and its drawing
// (tray-view.ts), the notifications (desktop-notifications.ts), the menu's actions
// (menu-actions.ts), the settings and token (settings-and-token.ts) and the renderer's IPC
// calls (renderer-calls.ts). The Electron shell (main.ts) implements `Shell` and wires the rest.

import type { DesktopSettings } from '../../common/lapse-api.ts';
import type { Clock } from '../../common/clock.ts';
import { isQuiet, type PlannedNotification, type StreamEvent } from '../../common/notifications.ts';
import type { Timers } from '../../common/clock.ts';
import type { Connection, MenuAction, MenuState } from './menu-model.ts';
import type { SettingsStore } from './settings.ts';
import type { TokenVault } from './keychain.ts';
import type { Shell } from './shell.ts';
import { ServerConnection, type EmbeddedHandle } from './connection.ts';
import { MenuData } from './menu-data.ts';
import { TrayView } from './tray-view.ts';
import { SeenNotifications } from './seen-notifications.ts';
import { Notifications } from './desktop-notifications.ts';
import { MenuActions } from './menu-actions.ts';
import { SettingsAndToken } from './settings-and-token.ts';
import { answerCall } from './renderer-calls.ts';
import { overdueRevokesText, quitNotice, type QuitNotice } from './quit-notice.ts';

export type { Shell } from './shell.ts';
export type { EmbeddedHandle } from './connection.ts';
export { errorData } from './renderer-calls.ts';

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
  /** Where the app runs (default: this process's): notification actions show on macOS only. */
  platform?: NodeJS.Platform;
}

/** How often the app looks whether its token is due for renewal. */
const TOKEN_RENEWAL_CHECK_MS = 12 * 3_600_000;

export class Controller {
  private readonly settingsAndToken: SettingsAndToken;
  private readonly connection: ServerConnection;
  private readonly data: MenuData;
  private readonly tray: TrayView;
  private readonly notifications: Notifications;
  private readonly actions: MenuActions;
  private renewalTimer: unknown = null;
  /** What the menu says first since this start, e.g. the revokes that fell due while the app was closed. */
  private startNotice: string | null = null;

  constructor(private readonly d: ControllerDeps) {
    const seen = new SeenNotifications(d.settings);
    const requestRefresh = (delayMs: number) => this.requestRefresh(delayMs);
    const reconnect = () => this.connect();
    const api = () => this.connection.api;
    this.settingsAndToken = new SettingsAndToken({ settings: d.settings, vault: d.vault, keychainLoadError: d.keychainLoadError, shell: d.shell, reconnect, requestRefresh });
    this.connection = new ServerConnection({
      settings: d.settings, shell: d.shell, startEmbedded: d.startEmbedded,
      tokenFor: (url) => this.settingsAndToken.tokenFor(url),
      lastEventId: () => seen.lastEventId,
      onEvent: (e) => this.onEvent(e),
      onReload: () => this.onReload(),
      onOnline: () => {
        this.requestRefresh(0);
        void this.checkTokenRenewal();
      },
      onChange: () => this.tray.scheduleRender(),
      // `me` told the server's warning offsets (or they are unknown again): plan at them.
      onIdentity: () => {
        this.notifications.replan();
        this.requestRefresh(0);
        this.tray.scheduleRender();
      },
      onEmbeddedStarted: (e) => this.onEmbeddedStarted(e.overdueRevokes ?? 0),
    });
    this.data = new MenuData({
      timers: d.timers, api, isAdmin: () => this.connection.isAdmin,
      onRefreshed: (myRequests) => {
        this.notifications.planWarnings(myRequests);
        this.tray.scheduleRender();
      },
      onUnreachable: (detail) => this.connection.setState({ state: 'offline', detail }),
    });
    this.tray = new TrayView({
      shell: d.shell, timers: d.timers, debounceMs: d.debounceMs,
      menuState: () => this.menuState(),
      warningWindowMs: () => Math.max(0, ...this.notifications.offsetsMs()),
    });
    this.notifications = new Notifications({
      settings: d.settings, clock: d.clock, timers: d.timers, shell: d.shell, seen,
      serverWarningOffsetsMs: () => this.connection.serverWarningOffsetsMs,
      me: () => this.connection.me,
      myRequest: (id) => this.data.myRequest(id),
      knownRequest: (id) => this.data.knownRequest(id),
      fetchRequest: (id) => this.connection.api?.getRequest(id).catch(() => undefined) ?? Promise.resolve(undefined),
    });
    this.actions = new MenuActions({
      shell: d.shell, api, reconnect, requestRefresh, platform: d.platform ?? process.platform,
      myRequest: (id) => this.data.myRequest(id),
      flow: (id) => this.data.flow(id),
    });
  }

  get connectionState(): Connection {
    return this.connection.state;
  }

  /** An app's token from single sign-on is renewed before it ends: looked at when online, then twice a day. */
  private async checkTokenRenewal(): Promise<void> {
    if (this.renewalTimer !== null) this.d.timers.clearTimeout(this.renewalTimer);
    this.renewalTimer = this.d.timers.setTimeout(() => void this.checkTokenRenewal(), TOKEN_RENEWAL_CHECK_MS);
    await this.settingsAndToken.renewTokenIfDue(this.d.clock.now()).catch(() => false);
  }

  /** Connects as the settings say: embedded (backend in this process) or a team server. */
  connect(): Promise<void> {
    return this.connection.connect();
  }

  /** The embedded backend has started: where it ran overdue revokes, the menu's first line and a notification say how many. */
  private onEmbeddedStarted(overdueRevokes: number): void {
    const text = overdueRevokesText(overdueRevokes);
    if (!text) return;
    this.startNotice = text;
    // Do not disturb holds the notification back; the menu says it all the same.
    if (!isQuiet({ enabled: this.d.settings.get().doNotDisturb }, this.d.clock.now())) this.d.shell.notify({ key: `overdue-revokes:${this.d.clock.now()}`, title: 'Overdue access revoked', body: text, actions: [], onClick: null, requestId: null });
    this.tray.scheduleRender();
  }

  /** What to say before quitting (embedded mode with active access), or null: quit at once. */
  quitNotice(): QuitNotice | null {
    return quitNotice(this.connection.isEmbedded, this.data.state.myRequests);
  }

  /** Revokes these requests (the quit dialog's "Revoke now"); returns the failures' messages. */
  async revokeNow(ids: readonly string[]): Promise<string[]> {
    const api = this.connection.api;
    if (!api) return ids.length ? ['the embedded backend is not running'] : [];
    const failures: string[] = [];
    for (const id of ids) {
      await api.revoke(id).catch((err: unknown) => failures.push(`${id}: ${(err as Error).message}`));
    }
    return failures;
  }

  private onEvent(e: StreamEvent): void {
    this.d.shell.broadcast({ kind: 'event', event: e });
    this.notifications.onEvent(e);
    this.requestRefresh();
  }

  /**
   * The server could not replay what the stream missed: the menu is read again, and the
   * windows are told (a `reload` event) to read theirs again.
   */
  private onReload(): void {
    this.d.shell.broadcast({ kind: 'event', event: { id: `reload:${this.d.clock.now()}`, type: 'reload', at: new Date(this.d.clock.now()).toISOString(), requestId: null, data: {} } });
    this.requestRefresh(0);
  }

  /** A click on a notification or one of its actions. */
  onNotificationAction(n: PlannedNotification, action: 'click' | 'copy-access-details' | 'extend' | 'revoke'): Promise<void> {
    return this.actions.onNotificationAction(n, action);
  }

  /** Refreshes from the server after `delayMs`; several changes close together make one refresh. */
  requestRefresh(delayMs = 100): void {
    this.data.requestRefresh(delayMs);
  }

  refresh(): Promise<void> {
    return this.data.refresh();
  }

  menuState(): MenuState {
    return { ...this.data.state, connection: this.connection.state, now: this.d.clock.now(), ...(this.startNotice ? { notice: this.startNotice } : {}) };
  }

  /** Builds the menu and icon now, and plans the next redraw for the countdowns. */
  render(): void {
    this.tray.render();
  }

  runAction(a: MenuAction): Promise<void> {
    return this.actions.run(a);
  }

  /** One renderer call: channel and arguments validated, then answered. Throws CallError. */
  call(channel: unknown, args: unknown): Promise<unknown> {
    return answerCall({ connectionState: () => this.connection.state, api: () => this.connection.api, settings: this.settingsAndToken, requestRefresh: (ms) => this.requestRefresh(ms) }, channel, args);
  }

  desktopSettings(): DesktopSettings {
    return this.settingsAndToken.desktopSettings();
  }

  async stop(): Promise<void> {
    if (this.renewalTimer !== null) this.d.timers.clearTimeout(this.renewalTimer);
    this.renewalTimer = null;
    await this.connection.close();
    this.notifications.stop();
    this.tray.stop();
    this.data.stop();
    await this.connection.stopEmbedded();
  }
}
