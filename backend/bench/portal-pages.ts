// `npm run bench -- portal-pages`: the portal's Active access view in Chromium, served by a
// real server process, over a store of 10,000 active requests and over one of 10 (the worst
// case for the view: every request is active, so every one matches its filter). Each sample
// is a page load as the admin, timed in the page from navigation start to the first page of
// rows in the DOM; loads alternate between the two servers so both share the machine's
// noise. Prints p50 and p99 of each and their ratios (target: 10,000 within 1.5× of 10).

import { join } from 'node:path';
import { chromium, type Browser } from 'playwright';
import { buildRenderer } from '../../renderer/build.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../../renderer/e2e/chromium.ts';
import { httpCall, seedActiveGrants, startServerProcess, summarize, tempDir, tokenFor, writeTeamConfig, type ServerProcess } from './support.ts';

type Report = (name: string, figure: string, target?: string) => void;
const ms = (v: number) => `${v.toFixed(1)} ms`;
const LOADS = 25;
const WARMUP = 3;
/** The first page's last row is in the DOM: its time since navigation start, kept on window. */
const MARK_FIRST_PAGE = `
  new MutationObserver((_, observer) => {
    if (document.querySelectorAll('table[aria-label="Active access"] tbody tr').length > 0) {
      window.__firstPageAt = performance.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
`;

async function seeded(count: number): Promise<{ server: ServerProcess; token: string }> {
  const dir = tempDir(`portal-${count}`);
  const dataDir = join(dir, 'data');
  const configPath = writeTeamConfig(dir, 200, 50);
  const now = Date.now();
  await seedActiveGrants(dataDir, { count, users: 200, databases: 50, expiresAt: (i) => now + 8 * 3_600_000 + i });
  const token = await tokenFor(dataDir, 'u0');
  return { server: await startServerProcess(configPath, dataDir), token };
}

async function firstPageMs(browser: Browser, url: string, token: string): Promise<{ ms: number; rows: number }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  try {
    await context.addInitScript(`sessionStorage.setItem('lapse.token', ${JSON.stringify(token)});${MARK_FIRST_PAGE}`);
    const page = await context.newPage();
    await page.goto(`${url}/#/active-access`);
    await page.waitForFunction(() => (window as unknown as { __firstPageAt?: number }).__firstPageAt !== undefined, undefined, { timeout: 30_000 });
    return await page.evaluate(() => ({
      ms: (window as unknown as { __firstPageAt: number }).__firstPageAt,
      rows: document.querySelectorAll('table[aria-label="Active access"] tbody tr').length,
    }));
  } finally {
    await context.close();
  }
}

export async function portalPagesBench(report: Report): Promise<void> {
  console.log(`portal-pages: Active access, first page in Chromium, over 10,000 and over 10 active requests (${LOADS} loads each, alternating)`);
  await buildRenderer();
  const [small, large] = [await seeded(10), await seeded(10_000)];
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const samples = { small: [] as number[], large: [] as number[] };
    let rows = { small: 0, large: 0 };
    for (let i = 0; i < WARMUP + LOADS; i++) {
      const a = await firstPageMs(browser, small.server.url, small.token);
      const b = await firstPageMs(browser, large.server.url, large.token);
      rows = { small: a.rows, large: b.rows };
      if (i < WARMUP) continue;
      samples.small.push(a.ms);
      samples.large.push(b.ms);
    }
    const s = summarize(samples.small);
    const l = summarize(samples.large);
    report('active access over 10 requests: first page', `p50 ${ms(s.p50)}, p99 ${ms(s.p99)} (${rows.small} rows)`);
    report('active access over 10,000 requests: first page', `p50 ${ms(l.p50)}, p99 ${ms(l.p99)} (${rows.large} rows)`);
    report('active access first page, 10,000 ÷ 10', `p50 ${(l.p50 / s.p50).toFixed(2)}×, p99 ${(l.p99 / s.p99).toFixed(2)}×`, '≤ 1.5×');

    // The API call behind it alone (the page's query, 50 rows), alternating as above.
    const path = '/api/v1/requests?scope=all&status=scheduled,granting,active&limit=50';
    const api = { small: [] as number[], large: [] as number[] };
    for (let i = 0; i < 20 + 300; i++) {
      for (const [key, target] of [['small', small], ['large', large]] as const) {
        const t = performance.now();
        const res = await httpCall(target.server.url + path, 'GET', target.token);
        if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body.slice(0, 200)}`);
        if (i >= 20) api[key].push(performance.now() - t);
      }
    }
    const as = summarize(api.small);
    const al = summarize(api.large);
    report('GET /requests?scope=all first page (50) over 10 / over 10,000', `p50 ${ms(as.p50)} / ${ms(al.p50)}, p99 ${ms(as.p99)} / ${ms(al.p99)}`);
    report('GET /requests?scope=all first page, 10,000 ÷ 10', `p50 ${(al.p50 / as.p50).toFixed(2)}×, p99 ${(al.p99 / as.p99).toFixed(2)}×`);
  } finally {
    await browser.close();
    await small.server.stop();
    await large.server.stop();
  }
}
