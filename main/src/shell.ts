// What the Electron shell (main.ts) gives the controller: the tray, notifications, messages
// to the windows, a confirmation dialog, the clipboard, windows, quitting, the login item
// and the system browser.

import type { StreamMessage } from '../../common/lapse-api.ts';
import type { PlannedNotification } from '../../common/notifications.ts';
import type { MenuItem, TrayIconState, View } from './menu-model.ts';

export interface Shell {
  render(menu: MenuItem[], icon: TrayIconState, toolTip: string): void;
  notify(n: PlannedNotification): void;
  broadcast(message: StreamMessage): void;
  confirm(message: string, detail: string): Promise<boolean>;
  copyText(text: string): void;
  openWindow(view: View, options?: { requestId?: string; extendRequestId?: string; prefill?: unknown }): void;
  quit(): void;
  setLaunchAtLogin(on: boolean): void;
  /** Opens an address in the system browser (single sign-on). */
  openExternal(url: string): Promise<void>;
}
