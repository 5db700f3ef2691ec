// What a click does: a tray menu action (request from a favorite or a flow, copy access
// details, extend, cancel, revoke after a confirmation where asked, open a window, reconnect,
// quit) or a notification's (open, extend, revoke now); a failure is shown as a notification.

import type { AccessRequest } from '../../common/lapse-api.ts';
import type { PlannedNotification } from '../../common/notifications.ts';
import { describeAccess } from '../../common/describe.ts';
import type { MenuAction } from './menu-model.ts';
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
      if (n.onClick) this.d.shell.openWindow(n.onClick.view, { requestId: n.onClick.requestId });
      return;
    }
    const r = this.d.myRequest(n.requestId);
    if (action === 'copy-access-details') return this.run({ kind: 'copy-access-details', requestId: n.requestId });
    if (action === 'extend') return this.run({ kind: 'extend', requestId: n.requestId, duration: r?.duration ?? '1h' });
    return this.run({ kind: 'revoke', requestId: n.requestId, confirm: r ? r.breakGlass || r.bundleId !== null : true });
  }
}
