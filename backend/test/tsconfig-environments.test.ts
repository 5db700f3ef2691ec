// Each folder's tsconfig.json gives its code the types of the environment it runs in:
// common/ neither the DOM's nor Node's, the renderer the DOM's and not Node's, the backend
// Node's and not the DOM's. A probe using what the environment lacks does not compile.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The diagnostics of `code` compiled as a new file of the folder's project. */
function compileIn(folder: string, code: string): string[] {
  const configPath = join(ROOT, folder, 'tsconfig.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(String(d.messageText)); } })!;
  const probe = join(ROOT, folder, folder === 'renderer' ? 'src' : folder === 'backend' ? 'src' : '', 'environment-probe.ts');
  const host = ts.createCompilerHost(parsed.options);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (f === probe ? code : readFile(f));
  host.fileExists = ((exists) => (f: string) => f === probe || exists(f))(host.fileExists.bind(host));
  // Only the probe and what it needs: the folder's own files are checked by npm run typecheck.
  const program = ts.createProgram({ rootNames: [probe, ...parsed.fileNames.filter((f) => f.endsWith('.d.ts'))], options: parsed.options, host });
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(probe)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('common/: no DOM, no Node; the platform APIs every host has', () => {
  assert.match(compileIn('common', 'export const t = document.title;\n').join('\n'), /Cannot find name 'document'/);
  assert.match(compileIn('common', 'export const e = process.env;\n').join('\n'), /Cannot find name 'process'/);
  assert.match(compileIn('common', 'export const b = Buffer.from("x");\n').join('\n'), /Cannot find name 'Buffer'/);
  assert.deepEqual(compileIn('common', 'export const f = () => fetch(new URL("/x", "http://h"), { signal: new AbortController().signal });\n'), []);
});

test('renderer/: the DOM, not Node', () => {
  assert.match(compileIn('renderer', 'export const e = process.env;\n').join('\n'), /Cannot find name 'process'/);
  assert.match(compileIn('renderer', 'export const r = require("fs");\n').join('\n'), /Cannot find name 'require'/);
  assert.deepEqual(compileIn('renderer', 'export const t = document.title;\n'), []);
});

test('backend/: Node, not the DOM', () => {
  assert.match(compileIn('backend', 'export const t = document.title;\n').join('\n'), /Cannot find name 'document'/);
  assert.deepEqual(compileIn('backend', 'export const e = process.env;\n'), []);
});
