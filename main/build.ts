// Bundles the main process (ESM) and the preload (one CommonJS file: a sandboxed preload
// can require nothing but electron) with esbuild into main/dist and preload/dist
// (gitignored). Dependencies stay external: they ship in node_modules with the app.
// `node --import tsx main/build.ts [--watch]`

import { build, context, type BuildOptions } from 'esbuild';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const common: BuildOptions = { bundle: true, platform: 'node', target: 'node22', sourcemap: true, logLevel: 'info', absWorkingDir: ROOT };

export const mainBuild: BuildOptions = {
  ...common,
  entryPoints: ['main/src/main.ts'],
  outfile: 'main/dist/main.js',
  format: 'esm',
  packages: 'external',
  // Some CommonJS dependencies use require(): give the ES module bundle one.
  banner: { js: "import { createRequire as __lapseCreateRequire } from 'node:module'; const require = __lapseCreateRequire(import.meta.url);" },
};

export const preloadBuild: BuildOptions = {
  ...common,
  entryPoints: ['preload/src/preload.ts'],
  outfile: 'preload/dist/preload.cjs',
  format: 'cjs',
  external: ['electron'],
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--watch')) {
    for (const o of [mainBuild, preloadBuild]) await (await context(o)).watch();
  } else {
    await Promise.all([build(mainBuild), build(preloadBuild)]);
  }
}
