// Renderer benchmarks (`npm run bench -- renderer`): the gzipped size of the built renderer,
// and the inbox with 1,000 pending requests in Chromium: time to first render and to apply
// one live update. Figures are printed, not asserted.

import { build } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright';
import { buildRenderer, RENDERER_DIR } from '../build.ts';
import type { BenchResult } from './inbox-page.tsx';
import { CHROMIUM, CHROMIUM_ARGS } from '../e2e/chromium.ts';

type Report = (name: string, figure: string, target?: string) => void;
const ms = (v: number) => `${v.toFixed(1)} ms`;

/** Builds the inbox benchmark page into `dir`; returns its file:// URL. A classic script: file:// pages cannot load module scripts. */
export async function buildInboxPage(dir: string): Promise<string> {
  await build({
    entryPoints: { bench: join(RENDERER_DIR, 'bench', 'inbox-page.tsx') }, outdir: dir, bundle: true, minify: true, format: 'iife',
    target: ['chrome120'], jsx: 'automatic', define: { 'process.env.NODE_ENV': '"production"' }, logLevel: 'warning',
  });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Inbox benchmark</title><link rel="stylesheet" href="bench.css"></head><body><div id="root"></div><script src="bench.js"></script></body></html>');
  return pathToFileURL(join(dir, 'index.html')).href;
}

export async function rendererBench(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-renderer-bench-'));
  try {
    console.log('renderer: production build; inbox with 1,000 pending requests in Chromium');
    const built = await buildRenderer({ outdir: join(dir, 'app') });
    const js = readFileSync(join(built.outdir, built.js));
    const css = built.css ? readFileSync(join(built.outdir, built.css)) : Buffer.alloc(0);
    report('renderer JS, gzipped', `${(gzipSync(js, { level: 9 }).length / 1024).toFixed(1)} KB (${(js.length / 1024).toFixed(0)} KB raw; CSS ${(gzipSync(css, { level: 9 }).length / 1024).toFixed(1)} KB gzipped)`, '≤ 250 KB');

    const pageUrl = await buildInboxPage(join(dir, 'page'));

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const runs: BenchResult[] = [];
      for (let i = 0; i < 5; i++) {
        const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        await page.goto(pageUrl);
        runs.push(await page.evaluate(() => (window as unknown as { lapseBench(rows: number, updates: number): Promise<BenchResult> }).lapseBench(1000, 15)));
        await page.close();
      }
      const med = (f: (r: BenchResult) => number) => runs.map(f).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
      report('inbox 1,000 rows: first render (to commit)', `${ms(med((r) => r.firstRenderCommitMs))} (median of ${runs.length} page loads; ${runs[0]!.domRows} rows near the viewport rendered)`, '≤ 150 ms');
      report('inbox 1,000 rows: first render (to next frame)', ms(med((r) => r.firstRenderFrameMs)));
      report('inbox 1,000 rows: first render, opened again in a warm page (to commit)', ms(med((r) => r.warmFirstRenderCommitMs)), '≤ 150 ms');
      report('inbox live update: one row changed (event → commit)', ms(med((r) => r.updateCommitMs.replace)), '≤ 16 ms');
      report('inbox live update: one row added (event → commit)', ms(med((r) => r.updateCommitMs.add)), '≤ 16 ms');
      report('inbox live update: one row removed (event → commit)', ms(med((r) => r.updateCommitMs.remove)), '≤ 16 ms');
      report('inbox live update: one row changed (event → next frame)', ms(med((r) => r.updateFrameMs.replace)));
    } finally {
      await browser.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await rendererBench((name, figure, target) => console.log(`  ${name}: ${figure}${target ? `   (target ${target})` : ''}`));
}
