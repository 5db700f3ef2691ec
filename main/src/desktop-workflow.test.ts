// The desktop workflow (.github/workflows/desktop.yml), for a CI with network access: valid
// for GitHub Actions (checked by @action-validator against the workflow schema), on Linux,
// macOS and Windows, installing the Electron runtime, running the launch test against it and
// keeping what `npm run dist` built.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const WORKFLOW = fileURLToPath(new URL('../../.github/workflows/desktop.yml', import.meta.url));
const VALIDATOR = fileURLToPath(new URL('../../node_modules/@action-validator/cli/cli.mjs', import.meta.url));

test('the workflow is valid for GitHub Actions', async () => {
  const result = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [VALIDATOR, WORKFLOW], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }));
  });
  assert.equal(result.code, 0, result.out);
});

test('it runs the launch test on the Electron runtime and keeps the packages, on the three systems', () => {
  const wf = parse(readFileSync(WORKFLOW, 'utf8')) as { jobs: { desktop: { strategy: { matrix: { os: string[] } }; steps: { name?: string; run?: string; uses?: string; with?: Record<string, unknown> }[] } } };
  const job = wf.jobs.desktop;
  assert.deepEqual(job.strategy.matrix.os, ['ubuntu-latest', 'macos-latest', 'windows-latest']);
  const runs = job.steps.map((s) => s.run ?? '').join('\n');
  assert.match(runs, /npx electron --version/);
  assert.match(runs, /ELECTRON_OVERRIDE_DIST_PATH=/, 'the launch test runs instead of skipping');
  assert.match(runs, /--test main\/src\/launch\.test\.ts/);
  assert.match(runs, /npm run dist/);
  assert.ok(job.steps.some((s) => s.uses?.startsWith('actions/upload-artifact@') && s.with?.['if-no-files-found'] === 'error'), 'the packages are kept, and a run without them fails');
});
