// The Electron main process: a thin shell that gives the controller (controller.ts) a tray,
// menus, notifications, windows, the clipboard and dialogs. Everything with logic lives in
// plain modules tested in Node; this file only wires Electron to them.

import { app, BrowserWindow, clipboard, dialog, ipcMain, Menu, nativeImage, nativeTheme, Notification, protocol, session, shell, Tray, type MenuItemConstructorOptions } from 'electron';
import Store from 'electron-store';
import { readFile } from 'node:fs/promises';
import { join, normalize, resolve, sep } from 'node:path';
import { systemClock } from '../../common/clock.ts';
import { createLogger } from '../../backend/src/logger.ts';
import type { PlannedNotification } from '../../common/notifications.ts';
import { LAPSE_CALL_CHANNEL_PREFIX, LAPSE_API_METHODS, LAPSE_EVENTS_CHANNEL } from '../../common/lapse-api.ts';
import { Controller, errorData, type Shell } from './controller.ts';
import { SettingsStore } from './settings.ts';
import { napiKeyring, TokenVault } from './keychain.ts';
import { startEmbedded } from './embedded.ts';
import { trayIconFile, type MenuItem, type TrayIconState, type View } from './menu-model.ts';
import { APP_ORIGIN, appPage, CONTENT_SECURITY_POLICY, isAllowedExternal, isAllowedNavigation, secureWebPreferences } from './security.ts';
import { windowHash, type OpenOptions } from './routes.ts';
import { QUIT_BUTTONS } from './quit-notice.ts';
import { showsNotificationActions } from './menu-actions.ts';

const ROOT = app.getAppPath();
const RENDERER_DIR = resolve(ROOT, 'renderer/dist');
const PRELOAD = resolve(ROOT, 'preload/dist/preload.cjs');
const ICONS = resolve(ROOT, 'build/tray');
const EXAMPLE_CONFIG = resolve(ROOT, 'backend/examples/lapse.yaml');
const DEV_ORIGIN = process.env.LAPSE_RENDERER_DEV_URL ?? null;

protocol.registerSchemesAsPrivileged([{ scheme: 'lapse', privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true } }]);

if (!app.requestSingleInstanceLock()) app.quit();

let tray: Tray | null = null;
let mainWindow: BrowserWindow | null = null;
let controller: Controller | null = null;
let lastIcon: TrayIconState | null = null;
const shown = new Set<Notification>();

/** Serves the renderer bundle under lapse://app/ with the CSP (pages with a fresh style nonce); nothing outside its folder. */
function serveRenderer(): void {
  protocol.handle('lapse', async (request) => {
    const url = new URL(request.url);
    if (url.host !== 'app') return new Response('not found', { status: 404 });
    const path = normalize(join(RENDERER_DIR, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)));
    if (!path.startsWith(RENDERER_DIR + sep)) return new Response('not found', { status: 404 });
    try {
      const body = await readFile(path);
      if (path.endsWith('.html')) {
        // A fresh style nonce per answer, in the policy and in the page; never cached.
        const page = appPage(body.toString('utf8'));
        return new Response(page.html, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': page.csp, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } });
      }
      const type = path.endsWith('.js') ? 'text/javascript' : path.endsWith('.css') ? 'text/css' : path.endsWith('.svg') ? 'image/svg+xml' : path.endsWith('.png') ? 'image/png' : 'application/octet-stream';
      return new Response(body, { headers: { 'content-type': type, 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff' } });
    } catch {
      return new Response('not found', { status: 404 });
    }
  });
}

function harden(win: BrowserWindow): void {
  const wc = win.webContents;
  wc.on('will-navigate', (e, url) => {
    if (!isAllowedNavigation(url, DEV_ORIGIN)) e.preventDefault();
  });
  wc.on('will-redirect', (e, url) => {
    if (!isAllowedNavigation(url, DEV_ORIGIN)) e.preventDefault();
  });
  wc.on('will-attach-webview', (e) => e.preventDefault());
  wc.setWindowOpenHandler(({ url }) => {
    const settings = controller?.desktopSettings();
    if (isAllowedExternal(url, settings?.serverUrl)) void shell.openExternal(url);
    return { action: 'deny' };
  });
}

function openWindow(view: View, options: OpenOptions = {}): void {
  const hash = windowHash(view, options);
  const base = DEV_ORIGIN ?? `${APP_ORIGIN}/index.html`;
  if (mainWindow && !mainWindow.isDestroyed()) {
    // The same address again (the same request's extend window, say) is a reload: a hash
    // that does not change would not open the page on it again.
    if (mainWindow.webContents.getURL() === `${base}${hash}`) mainWindow.webContents.reload();
    else void mainWindow.loadURL(`${base}${hash}`);
    mainWindow.show();
    mainWindow.focus();
    return;
  }
  const bounds = settings.get().windowBounds;
  mainWindow = new BrowserWindow({
    width: bounds?.width ?? 980, height: bounds?.height ?? 700, ...(bounds ? { x: bounds.x, y: bounds.y } : {}),
    minWidth: 640, minHeight: 480, show: false, title: 'Lapse', autoHideMenuBar: true,
    backgroundColor: nativeTheme.shouldUseDarkColors ? '#1e1f22' : '#ffffff',
    webPreferences: secureWebPreferences(PRELOAD),
  });
  harden(mainWindow);
  mainWindow.once('ready-to-show', () => mainWindow?.show());
  mainWindow.on('close', () => {
    if (mainWindow && !mainWindow.isDestroyed()) settings.patch({ windowBounds: mainWindow.getBounds() });
  });
  mainWindow.on('closed', () => (mainWindow = null));
  void mainWindow.loadURL(`${base}${hash}`);
}

function toElectronMenu(items: MenuItem[]): MenuItemConstructorOptions[] {
  return items.map((i): MenuItemConstructorOptions => {
    if (i.type === 'separator') return { type: 'separator' };
    const action = i.action;
    return {
      id: i.id, label: i.label, enabled: i.enabled, toolTip: i.toolTip,
      ...(i.submenu ? { submenu: toElectronMenu(i.submenu) } : {}),
      ...(action ? { click: () => void controller?.runAction(action) } : {}),
    };
  });
}

function showNotification(n: PlannedNotification): void {
  if (!Notification.isSupported()) return;
  // Actions are buttons on macOS only; elsewhere the click stands for them (menu-actions.ts:
  // on an expiry warning it opens the extend window, otherwise the notification's target).
  const actions = showsNotificationActions(process.platform) ? n.actions.map((a) => ({ type: 'button' as const, text: a.label })) : [];
  const note = new Notification({ title: n.title, body: n.body, actions });
  shown.add(note);
  note.on('click', () => void controller?.onNotificationAction(n, 'click'));
  note.on('action', (_e, index) => {
    const a = n.actions[index];
    if (a) void controller?.onNotificationAction(n, a.action);
  });
  note.on('close', () => shown.delete(note));
  note.show();
}

const shellImpl: Shell = {
  render(menu, icon, toolTip) {
    if (!tray) return;
    if (icon !== lastIcon) {
      const image = nativeImage.createFromPath(join(ICONS, trayIconFile(icon, process.platform, nativeTheme.shouldUseDarkColors)));
      tray.setImage(image);
      lastIcon = icon;
    }
    tray.setToolTip(toolTip);
    tray.setContextMenu(Menu.buildFromTemplate(toElectronMenu(menu)));
  },
  notify: showNotification,
  broadcast(message) {
    for (const w of BrowserWindow.getAllWindows()) if (!w.isDestroyed()) w.webContents.send(LAPSE_EVENTS_CHANNEL, message);
  },
  async confirm(message, detail) {
    const r = await dialog.showMessageBox({ type: 'warning', message, detail, buttons: ['Revoke now', 'Keep it'], defaultId: 1, cancelId: 1, noLink: true });
    return r.response === 0;
  },
  copyText: (text) => clipboard.writeText(text),
  openWindow: (view, options) => openWindow(view, options as OpenOptions),
  quit: () => app.quit(),
  setLaunchAtLogin: (on) => app.setLoginItemSettings({ openAtLogin: on }),
  openExternal: (url) => shell.openExternal(url),
};

const settings = new SettingsStore(new Store<Record<string, unknown>>({ name: 'settings', clearInvalidConfig: false }) as unknown as { store: Record<string, unknown> });

app.on('second-instance', () => openWindow('my-access'));
// A tray app stays when its window closes.
app.on('window-all-closed', () => {});
app.on('web-contents-created', (_e, wc) => {
  wc.on('will-navigate', (ev, url) => {
    if (!isAllowedNavigation(url, DEV_ORIGIN)) ev.preventDefault();
  });
  wc.setWindowOpenHandler(() => ({ action: 'deny' }));
});

/**
 * In embedded mode with access still active: says it stays until the app runs again and
 * offers to revoke it now (quit-notice.ts). False: the person chose to stay.
 */
async function confirmQuit(c: Controller): Promise<boolean> {
  const notice = c.quitNotice();
  if (!notice) return true;
  const r = await dialog.showMessageBox({ type: 'warning', message: notice.message, detail: notice.detail, buttons: [...QUIT_BUTTONS], defaultId: 0, cancelId: 2, noLink: true });
  if (r.response === 2) return false;
  if (r.response === 0) {
    const failures = await c.revokeNow(notice.revoke);
    if (failures.length) {
      const again = await dialog.showMessageBox({ type: 'error', message: 'Some access could not be revoked.', detail: failures.join('\n'), buttons: ['Quit anyway', 'Cancel'], defaultId: 1, cancelId: 1, noLink: true });
      return again.response === 0;
    }
  }
  return true;
}

let quitting = false;
let asking = false;
app.on('before-quit', (e) => {
  if (quitting || !controller) return;
  e.preventDefault();
  if (asking) return;
  asking = true;
  const c = controller;
  void confirmQuit(c).catch(() => true).then((go) => {
    asking = false;
    if (!go) return;
    quitting = true;
    void c.stop().finally(() => app.quit());
  });
});

app.whenReady().then(async () => {
  // A tray app: no Dock icon on macOS (the packaged app says so in Info.plist too).
  app.dock?.hide();
  serveRenderer();
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  let vault: TokenVault | null = null;
  let keychainLoadError: string | undefined;
  try {
    vault = new TokenVault(await napiKeyring());
  } catch (err) {
    keychainLoadError = `the keychain module could not be loaded: ${(err as Error).message}`;
  }
  const log = createLogger();
  controller = new Controller({
    settings, vault, keychainLoadError, shell: shellImpl, clock: systemClock,
    timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    startEmbedded: () => startEmbedded({ dir: join(app.getPath('userData'), 'embedded'), exampleConfigPath: EXAMPLE_CONFIG, logger: log }),
  });
  for (const method of LAPSE_API_METHODS) {
    const channel = `${LAPSE_CALL_CHANNEL_PREFIX}${method}`;
    ipcMain.handle(channel, async (event, ...args: unknown[]) => {
      // Only the app's own pages may call.
      const from = event.senderFrame?.url ?? '';
      if (!isAllowedNavigation(from, DEV_ORIGIN)) return { ok: false, error: { status: 403, title: 'Forbidden', detail: 'calls are accepted from the app’s own pages only' } };
      try {
        return { ok: true, value: await controller!.call(channel, args) };
      } catch (err) {
        return { ok: false, error: errorData(err) };
      }
    });
  }
  tray = new Tray(nativeImage.createFromPath(join(ICONS, trayIconFile('none', process.platform, nativeTheme.shouldUseDarkColors))));
  tray.setToolTip('Lapse');
  tray.on('click', () => tray?.popUpContextMenu());
  controller.render();
  nativeTheme.on('updated', () => {
    lastIcon = null;
    controller?.render();
  });
  // Introspection for the launch test (playwright's electron.evaluate runs in this process).
  Object.assign(globalThis, { lapseDesktop: { tray, openWindow, controller } });
  await controller.connect();
  if (process.env.LAPSE_OPEN_ON_START) openWindow(process.env.LAPSE_OPEN_ON_START as View);
}).catch((err) => {
  dialog.showErrorBox('Lapse could not start', String((err as Error)?.stack ?? err));
  app.exit(1);
});
