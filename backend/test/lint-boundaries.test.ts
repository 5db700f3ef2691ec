// The boundaries ESLint guards (eslint.config.js), tried with the imports they exist to
// refuse, each in a file where it would land; and the same imports where they are allowed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

/** The rules that refuse `code` as the file at `path` (relative to the repository). */
async function refusals(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}${path}` });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

const refused: [string, string, RegExp][] = [
  ['renderer/src/views/probe.tsx', "import { startService } from '../../../backend/src/service.ts';\nvoid startService;\n", /no-restricted-paths.*renderer reaches the rest only through common/],
  ['renderer/src/probe.ts', "import { readFileSync } from 'node:fs';\nvoid readFileSync;\n", /no-restricted-imports.*runs without Node/],
  ['renderer/src/probe.ts', "import { ipcRenderer } from 'electron';\nvoid ipcRenderer;\n", /no-restricted-imports/],
  ['preload/src/probe.ts', "import { Controller } from '../../main/src/controller.ts';\nvoid Controller;\n", /no-restricted-paths.*preload imports only common/],
  ['preload/src/probe.ts', "import { spawn } from 'node:child_process';\nvoid spawn;\n", /no-restricted-imports.*sandboxed/],
  ['common/probe.ts', "import { Engine } from '../backend/src/engine/engine.ts';\nvoid Engine;\n", /no-restricted-paths.*imports nothing outside itself/],
  ['common/probe.ts', "import { join } from 'node:path';\nvoid join;\n", /no-restricted-imports.*no Node built-in/],
  ['common/probe.ts', "import { join } from 'path';\nvoid join;\n", /no-restricted-imports/],
  ['backend/src/domain/probe.ts', "import type { Store } from '../store/store.ts';\nexport type S = Store;\n", /no-restricted-paths.*without I\/O/],
  ['backend/src/domain/probe.ts', "import { readFile } from 'node:fs/promises';\nvoid readFile;\n", /no-restricted-imports.*without I\/O/],
  ['backend/src/api/routes/probe.ts', "import { SqliteStore } from '../../store/sqlite-store.ts';\nvoid SqliteStore;\n", /no-restricted-paths.*not the store/],
];

for (const [path, code, expected] of refused) {
  test(`refused: ${code.split('\n')[0]} in ${path}`, async () => {
    const found = await refusals(path, code);
    assert.ok(found.some((m) => expected.test(m)), found.join('\n') || 'nothing refused');
  });
}

test('allowed: common/ from the renderer, electron in the preload, crypto in the domain, services from a route', async () => {
  assert.deepEqual(await refusals('renderer/src/probe.ts', "import { parseDuration } from '../../common/duration.ts';\nvoid parseDuration;\n"), []);
  assert.deepEqual(await refusals('preload/src/probe.ts', "import { contextBridge } from 'electron';\nimport { LAPSE_API_GLOBAL } from '../../common/lapse-api.ts';\nvoid contextBridge; void LAPSE_API_GLOBAL;\n"), []);
  assert.deepEqual(await refusals('backend/src/domain/probe.ts', "import { randomFillSync } from 'node:crypto';\nvoid randomFillSync;\n"), []);
  assert.deepEqual(await refusals('backend/src/api/routes/probe.ts', "import type { RequestQueries } from '../../services/request-queries.ts';\nexport type Q = RequestQueries;\n"), []);
});

test('an import cycle is refused', async () => {
  // engine.ts imports engine-context.ts; a runtime import back closes a cycle.
  const found = await refusals('backend/src/engine/engine-context.ts', "import { Engine } from './engine.ts';\nexport const e = Engine;\n");
  assert.ok(found.some((m) => /import-x\/no-cycle/.test(m)), found.join('\n'));
});
