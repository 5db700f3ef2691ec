#!/usr/bin/env node
// The `lapse` command: the compiled backend (backend/dist, made by `npm run build:backend`,
// which `npm ci` runs as `prepare`).
import { existsSync } from 'node:fs';
import module from 'node:module';

// V8 keeps the compiled bundle between runs (in the OS's temporary folder, or
// NODE_COMPILE_CACHE): later starts skip most of the parsing.
module.enableCompileCache?.();

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('lapse: the backend is not built (backend/dist is missing); run: npm run build:backend\n');
  process.exit(1);
}
// A reader that stops reading (`lapse … | head`) ends the command quietly, as for any Unix tool.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const { run } = await import(entry.href);
await run(process.argv.slice(2));
