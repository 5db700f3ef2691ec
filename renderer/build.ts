// Builds the renderer into renderer/dist/ (or `--outdir DIR`): index.html and the bundle
// (app-<hash>.js, app-<hash>.css), minified, with production React. The desktop app loads
// dist/index.html; the backend serves the same files as the web portal.
//   node --import tsx renderer/build.ts [--outdir DIR]

import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RENDERER_DIR = fileURLToPath(new URL('.', import.meta.url));
export const DEFAULT_OUT_DIR = join(RENDERER_DIR, 'dist');

export interface BuiltRenderer {
  outdir: string;
  /** File names written (index.html included). */
  files: string[];
  js: string;
  css: string | null;
}

/** Bundles `entry` (default: the app) into `outdir`, writes index.html naming the hashed files, removes stale ones. */
export async function buildRenderer(opts: { outdir?: string; entry?: string; html?: string } = {}): Promise<BuiltRenderer> {
  const outdir = opts.outdir ?? DEFAULT_OUT_DIR;
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: { app: opts.entry ?? join(RENDERER_DIR, 'src', 'main.tsx') },
    entryNames: '[name]-[hash]',
    outdir,
    bundle: true,
    minify: true,
    // A classic script: it loads the same from the portal and from file:// in the desktop app.
    format: 'iife',
    target: ['chrome120'],
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  const outputs = Object.keys(result.metafile.outputs).map((f) => basename(f));
  const js = outputs.find((f) => f.endsWith('.js'))!;
  const css = outputs.find((f) => f.endsWith('.css')) ?? null;
  const template = readFileSync(opts.html ?? join(RENDERER_DIR, 'index.html'), 'utf8');
  const html = template
    .replace('href="app.css"', css ? `href="${css}"` : 'href="data:text/css,"')
    .replace('src="app.js"', `src="${js}"`);
  writeFileSync(join(outdir, 'index.html'), html);
  const files = [...outputs, 'index.html'];
  // Stale bundles of earlier builds (only names this build writes are ever removed).
  for (const f of readdirSync(outdir)) if (/^app-[A-Z0-9]{8}\.(js|css)$/.test(f) && !files.includes(f)) rmSync(join(outdir, f), { force: true });
  return { outdir, files, js, css };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--outdir');
  const built = await buildRenderer(i > 0 ? { outdir: process.argv[i + 1] } : {});
  console.log(`renderer built in ${built.outdir}: ${built.files.join(', ')}`);
}
