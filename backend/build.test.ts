// The compiled backend (backend/build.ts): the bin runs it, `lapse --help` and the client
// verbs load none of the server's modules, and the project's files are found from a bundle
// wherever it lies below the project (backend/dist, the desktop app's main/dist, a packaged
// app's folder).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BACKEND_DIST, backendBuild } from './build.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'backend', 'bin', 'lapse.js');

/** The modules a bundle file imports statically (import … from "x"), not those it loads on demand. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["'];?$/gm)].map((m) => m[1]!);
}

/** Every module `entry` loads at start: the static imports, followed through the bundle's own chunks. */
function loadedAtStart(entry: string): Set<string> {
  const seen = new Set<string>();
  const files = [entry];
  for (let f = files.pop(); f !== undefined; f = files.pop()) {
    for (const spec of staticImports(f)) {
      if (spec.startsWith('.')) {
        const next = resolve(dirname(f), spec);
        if (!seen.has(next)) files.push(next);
        seen.add(next);
      } else {
        seen.add(spec);
      }
    }
  }
  return seen;
}

test('the bin runs the compiled backend: help, a config check, and a clear error without a build', () => {
  assert.ok(existsSync(join(BACKEND_DIST, 'cli.js')), 'npm test builds backend/dist first');
  const help = execFileSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  assert.match(help, /^lapse — just-in-time access/);
  const check = execFileSync(process.execPath, [BIN, 'config', 'check', join(ROOT, 'backend/examples/lapse.yaml')], { encoding: 'utf8' });
  assert.match(check, /lapse\.yaml: ok — 5 users, 1 integrations, 1 bundles, \d+ flows/);
  // A copy of the bin beside no build says what to do.
  const dir = mkdtempSync(join(tmpdir(), 'lapse-bin-'));
  try {
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'lapse.js'), readFileSync(BIN));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    let out = '';
    try {
      execFileSync(process.execPath, [join(dir, 'bin', 'lapse.js'), '--help'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      out = String((err as { stderr?: string }).stderr);
    }
    assert.match(out, /the backend is not built .*run: npm run build:backend/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('`lapse --help` and the client verbs load none of the server: the server modules are loaded by the verbs that need them', () => {
  const atStart = loadedAtStart(join(BACKEND_DIST, 'cli.js'));
  for (const serverOnly of ['fastify', 'pg', 'libsql', 'ioredis', 'mysql2', 'yaml', 'ajv', 'node-notifier']) {
    assert.ok(!atStart.has(serverOnly), `${serverOnly} is not loaded at start (static imports: ${[...atStart].filter((s) => !s.startsWith('/')).join(', ')})`);
  }
  // The server is in the bundle all the same, in chunks loaded on demand.
  const chunks = readdirSync(join(BACKEND_DIST, 'chunks')).filter((f) => f.endsWith('.js'));
  assert.ok(chunks.some((f) => staticImports(join(BACKEND_DIST, 'chunks', f)).includes('fastify')), 'a chunk holds the HTTP server');
});

test('a piped reader that stops reading ends the command quietly (no EPIPE crash)', () => {
  // `true` reads nothing and exits at once: every write of the schema meets a closed pipe.
  const out = execFileSync('bash', ['-c', `"${process.execPath}" "${BIN}" config schema | true; echo "status \${PIPESTATUS[0]}"`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(out, 'status 0\n');
  const head = execFileSync('bash', ['-c', `"${process.execPath}" "${BIN}" --help | head -1; echo "status \${PIPESTATUS[0]}"`], { encoding: 'utf8' });
  assert.equal(head, 'lapse — just-in-time access\nstatus 0\n');
});

test('the project\'s files are found from a bundle wherever it lies: compiled backend, desktop bundle, packaged app', async () => {
  const entry = join(ROOT, 'backend/src/api/portal.ts');
  const app = mkdtempSync(join(tmpdir(), 'lapse-app-'));
  try {
    // A packaged app's layout: package.json of lapse at its root, the bundles below it.
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'lapse', type: 'module' }));
    for (const out of ['backend/dist/chunks/portal.js', 'main/dist/main.js']) {
      await build({ ...backendBuild, entryPoints: [entry], outdir: undefined, outfile: join(app, out), splitting: false, absWorkingDir: ROOT });
      const printed = execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(join(app, out))}); console.log(m.DEFAULT_PORTAL_DIR);`], { encoding: 'utf8' }).trim();
      assert.equal(printed, join(app, 'renderer', 'dist'), `from ${out}`);
    }
    // And from the sources, as tests and tools run them.
    const { DEFAULT_PORTAL_DIR } = await import('./src/api/portal.ts');
    assert.equal(DEFAULT_PORTAL_DIR, join(ROOT, 'renderer', 'dist'));
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});
