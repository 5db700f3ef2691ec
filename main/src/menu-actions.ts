// What a click does: a tray menu action (request from a favorite or a flow, copy access
// details, extend, cancel, revoke after a confirmation where asked, open a window, reconnect,
// quit) or a notification's (open, extend, revoke now); a failure is shown as a notification.
// Extending goes through at once only where the flow asks nothing more (no justification,
// no MFA); else the extend window opens on the request (My access with its extend dialog).

import type { AccessRequest, CatalogFlow } from '../../common/lapse-api.ts';
import type { PlannedNotification } from '../../common/notifications.ts';
import { describeAccess } from '../../common/describe.ts';
import { extendNeedsWindow, type MenuAction } from './menu-model.ts';
import { CallError, accessDetailsText, type ServerMethods } from './server-api.ts';
import type { Shell } from './shell.ts';

export interface MenuActionsDeps {
  shell: Pick<Shell, 'quit' | 'openWindow' | 'copyText' | 'confirm' | 'notify'>;
  /** The server's API now; null while there is no server to call. */
  api(): ServerMethods | null;
  reconnect(): Promise<void>;
  /** One of my requests as last read. */
  myRequest(id: string): AccessRequest | undefined;
  /** Reads from the server again, after `delayMs`. */
  requestRefresh(delayMs: number): void;
  /** A flow of the catalog as last read; undefined when it does not hold it. */
  flow(id: string): CatalogFlow | undefined;
  /** Where the app runs: notification actions (buttons) are shown on macOS only. */
  platform: NodeJS.Platform;
}

/** Whether the platform shows a notification's actions as buttons (Electron: macOS only). */
export function showsNotificationActions(platform: NodeJS.Platform): boolean {
  return platform === 'darwin';
}

export class MenuActions {
  constructor(private readonly d: MenuActionsDeps) {}

  async run(a: MenuAction): Promise<void> {
    const api = this.d.api();
    try {
      switch (a.kind) {
        case 'quit': return this.d.shell.quit();
        case 'open': return this.d.shell.openWindow(a.view, a.requestId ? { requestId: a.requestId } : undefined);
        case 'open-request': return this.d.shell.openWindow('request', { prefill: a.prefill });
        case 'open-extend': return this.d.shell.openWindow('my-access', { extendRequestId: a.requestId });
        case 'reconnect': return await this.d.reconnect();
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
            const r = this.d.myRequest(a.requestId);
            const what = r ? describeAccess(r) : a.requestId;
            const ok = await this.d.shell.confirm(`Revoke ${what} now?`, r?.breakGlass ? 'This is break-glass access; revoking ends it for good.' : 'Every grant of this bundle is revoked at once.');
            if (!ok) return;
          }
          await api.revoke(a.requestId);
          break;
        }
      }
      this.d.requestRefresh(0);
    } catch (err) {
      const detail = err instanceof CallError ? err.data.detail : (err as Error).message;
      this.d.shell.notify({ key: `error:${Date.now()}`, title: 'Lapse could not do that', body: detail, actions: [], onClick: null, requestId: null });
    }
  }

  /** A click on a notification or one of its actions. */
  async onNotificationAction(n: PlannedNotification, action: 'click' | 'copy-access-details' | 'extend' | 'revoke'): Promise<void> {
    if (!n.requestId) return;
    if (action === 'click') {
      // Where actions are not shown, a click on a warning that offers "Extend" opens the extend window (which offers "Revoke now" too).
      if (!showsNotificationActions(this.d.platform) && n.actions.some((a) => a.action === 'extend')) return this.run({ kind: 'open-extend', requestId: n.requestId });
      if (n.onClick) this.d.shell.openWindow(n.onClick.view, { requestId: n.onClick.requestId });
      return;
    }
    const r = this.d.myRequest(n.requestId);
    if (action === 'copy-access-details') return this.run({ kind: 'copy-access-details', requestId: n.requestId });
    if (action === 'extend') {
      const inWindow = !r || extendNeedsWindow(this.d.flow(r.flowId));
      return this.run(inWindow ? { kind: 'open-extend', requestId: n.requestId } : { kind: 'extend', requestId: n.requestId, duration: r.duration });
    }
    return this.run({ kind: 'revoke', requestId: n.requestId, confirm: r ? r.breakGlass || r.bundleId !== null : true });
  }
}
