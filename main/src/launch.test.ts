// The real app, launched with playwright's Electron support. Electron 45's install does not
// download its runtime, so this runs only where ELECTRON_OVERRIDE_DIST_PATH names a folder
// holding one (e.g. after `npx electron --version` on a machine with network access, or an
// unpacked electron-v45 zip); otherwise it is reported as skipped.
// Starts in embedded mode in a fresh user-data folder: no server or token needed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { LAPSE_API_METHODS } from '../../common/lapse-api.ts';
import { userIdFromOsUser } from './embedded.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const cleanups: (() => void | Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A virtual X display on Linux when there is none (CI). */
async function ensureDisplay(): Promise<Record<string, string>> {
  if (process.platform !== 'linux' || process.env.DISPLAY) return {};
  const xvfb: ChildProcess = spawn('Xvfb', ['-displayfd', '1', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanups.push(() => void xvfb.kill());
  const display = await new Promise<string>((resolve, reject) => {
    xvfb.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    xvfb.once('error', reject);
  });
  return { DISPLAY: `:${display}` };
}

test('the app starts: the tray exists, the inbox window opens, the preload API is the only bridge', async (t) => {
  if (!process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    t.skip('the Electron runtime is not installed here: ELECTRON_OVERRIDE_DIST_PATH not set');
    return;
  }
  const { build } = await import('esbuild');
  const { mainBuild, preloadBuild } = await import('../build.ts');
  await Promise.all([build({ ...mainBuild, logLevel: 'silent' }), build({ ...preloadBuild, logLevel: 'silent' })]);
  if (!existsSync(join(REPO, 'renderer/dist/index.html'))) {
    const { buildRenderer } = await import('../../renderer/build.ts');
    await buildRenderer();
  }
  const userData = mkdtempSync(join(tmpdir(), 'lapse-app-'));
  cleanups.push(() => rmSync(userData, { recursive: true, force: true }));
  const { _electron: electron } = await import('playwright');
  const app = await electron.launch({
    args: [REPO, `--user-data-dir=${userData}`, ...(process.platform === 'linux' ? ['--no-sandbox'] : [])],
    env: { ...process.env, ...(await ensureDisplay()), LAPSE_OPEN_ON_START: 'inbox' } as Record<string, string>,
    timeout: 60_000,
  });
  cleanups.push(() => app.close());

  const tray = await app.evaluate(async () => {
    const d = (globalThis as unknown as { lapseDesktop?: { tray: { isDestroyed(): boolean } } }).lapseDesktop;
    return d ? !d.tray.isDestroyed() : null;
  });
  assert.equal(tray, true, 'a tray icon exists');

  const win = await app.firstWindow();
  await win.waitForURL(/^lapse:\/\/app\/index\.html#\/inbox/);
  const bridge = await win.evaluate(() => {
    const w = window as unknown as Record<string, unknown>;
    return {
      require: typeof w.require, process: typeof w.process, module: typeof w.module, electron: typeof w.electron, ipcRenderer: typeof w.ipcRenderer,
      lapse: Object.keys(w.lapse as object).sort(), host: (w.lapse as { host: string }).host,
    };
  });
  assert.deepEqual(bridge, {
    require: 'undefined', process: 'undefined', module: 'undefined', electron: 'undefined', ipcRenderer: 'undefined',
    lapse: [...LAPSE_API_METHODS, 'host', 'subscribe'].sort(), host: 'desktop',
  });
  // The bridge works end to end (embedded backend) and refuses a bad payload with its field.
  const me = await win.evaluate(() => (window as unknown as { lapse: { me(): Promise<{ id: string }> } }).lapse.me());
  assert.equal(me.id, userIdFromOsUser(userInfo().username));
  const refused = await win.evaluate(() => (window as unknown as { lapse: { getRequest(x: unknown): Promise<unknown> } }).lapse.getRequest({ $ne: 1 }).then(() => null, (e: { field?: string; status?: number }) => e));
  assert.deepEqual(refused && { status: (refused as { status: number }).status, field: (refused as { field: string }).field }, { status: 400, field: 'getRequest(args[0])' });
  // Navigation away from the app is blocked.
  await win.evaluate(() => { location.href = 'https://example.com/'; });
  await new Promise((r) => setTimeout(r, 500));
  assert.match(win.url(), /^lapse:\/\/app\//);
});
