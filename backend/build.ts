// Compiles the backend (the `lapse` command and the server) into backend/dist (gitignored):
// one ES module bundle per entry with esbuild, split into chunks so that a verb loads only
// what it needs (`lapse --help` does not load the server). Dependencies stay external: they
// are loaded from node_modules. The bin, `npm run serve` and the systemd units run this
// output; tsx is for development only.
// `node --import tsx backend/build.ts [--watch]`

import { build, context, type BuildOptions } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BACKEND_DIST = fileURLToPath(new URL('./dist/', import.meta.url));

export const backendBuild: BuildOptions = {
  absWorkingDir: ROOT,
  // The outbox's delivery thread is loaded by path (services/delivery-thread.ts): an entry of its own.
  entryPoints: { cli: 'backend/src/cli/main.ts', 'delivery-worker': 'backend/src/services/delivery-worker.ts' },
  outdir: 'backend/dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  // Some CommonJS dependencies use require(): give each ES module chunk one.
  banner: { js: "import { createRequire as __lapseCreateRequire } from 'node:module'; const require = __lapseCreateRequire(import.meta.url);" },
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--watch')) {
    await (await context(backendBuild)).watch();
  } else {
    // Chunk names carry a hash: stale ones from an earlier build go first.
    rmSync(BACKEND_DIST, { recursive: true, force: true });
    await build(backendBuild);
  }
}
