// The tray menu for a heavy user: 300 entries (100 catalog flows with their entitlements and
// bundles, 100 favorites, 100 requests active or waiting), built from state as the app does
// after every event. Prints the median and p99 build time.

import { buildMenu, trayIconState, walkMenu, type MenuState } from '../src/menu-model.ts';
import { ent, favorite, flow, request } from '../src/menu-fixtures.ts';

export function menuState(entries = 300, now = Date.parse('2026-01-05T12:00:00.000Z')): MenuState {
  const third = Math.floor(entries / 3);
  const catalog = Array.from({ length: third }, (_, i) => flow(`flow-${i}`, {
    name: `Flow ${i}`,
    available: i % 10 !== 0,
    reason: i % 10 === 0 ? 'outside its window: Mon–Fri 08:00–20:00 Europe/Berlin' : null,
    requireJustification: i % 3 === 0,
    entitlements: [ent(`db-${i}`, 'read'), ent(`db-${i}`, 'write'), ent(`db-${i}/t`, 'read', 'table')],
    bundles: i % 5 === 0 ? [{ id: `bundle-${i}`, name: `Bundle ${i}`, entitlements: [ent(`db-${i}`, 'read')] }] : [],
  }));
  const favorites = Array.from({ length: third }, (_, i) => favorite(`fav-${i}`, `flow-${(i * 7) % third}`, { name: `Favorite ${i}` }));
  const myRequests = Array.from({ length: entries - 2 * third }, (_, i) => request(`req-${i}`, {
    status: i % 4 === 0 ? 'pending' : 'active',
    expiresAt: i % 4 === 0 ? null : new Date(now + (i + 1) * 61_000).toISOString(),
    entitlements: [ent(`db-${i}`, 'read')],
    breakGlass: i % 9 === 0,
  }));
  return { connection: { state: 'online' }, catalog, favorites, myRequests, approvalsCount: 12, now };
}

export async function menuBench(report: (name: string, figure: string, target?: string) => void): Promise<void> {
  const state = menuState(300);
  console.log('menu: tray menu model for 300 entries (100 flows, 100 favorites, 100 requests)');
  for (let i = 0; i < 200; i++) buildMenu(state); // warm up
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < 1000; i++) {
    const t = performance.now();
    const menu = buildMenu({ ...state, now: state.now + i * 1000 });
    trayIconState(state, 600_000);
    times.push(performance.now() - t);
    if (i === 0) items = [...walkMenu(menu)].length;
  }
  times.sort((a, b) => a - b);
  const p = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  report('menu model, 300 entries: build time median / p99', `${p(0.5).toFixed(3)} ms / ${p(0.99).toFixed(3)} ms (${items} menu items)`, '≤ 5 ms');
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  await menuBench((name, figure, target) => console.log(`  ${name}: ${figure}${target ? `   (target ${target})` : ''}`));
}
