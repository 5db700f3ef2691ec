// Lint, run by `npm test`: TypeScript's recommended rules, no import cycles, and the
// boundaries between the halves of the project:
// - common/ is pure: it imports nothing outside itself, no Node built-in and not electron;
// - renderer/ imports only common/ (and the browser), never Node or electron;
// - preload/ imports only common/ and electron's renderer-side API;
// - backend/src/domain/ is logic without I/O: no store, engine, API, integrations, files or network;
// - the API's routes call the engine and the read services, never the store.

import tseslint from 'typescript-eslint';
import { importX, createNodeResolver } from 'eslint-plugin-import-x';

const NODE_BUILTINS = ['node:*', 'fs', 'fs/*', 'path', 'os', 'child_process', 'net', 'http', 'https', 'crypto', 'url', 'util', 'stream', 'events', 'worker_threads', 'dns', 'dgram', 'tls', 'zlib', 'buffer', 'module', 'process'];
const IO_BUILTINS = ['node:fs', 'node:fs/*', 'node:net', 'node:http', 'node:https', 'node:http2', 'node:child_process', 'node:dgram', 'node:dns', 'node:tls', 'node:worker_threads', 'node:os', 'node:process'];

/** How import-x reads and finds the project's modules (imports name their .ts files). */
const IMPORT_SETTINGS = {
  'import-x/extensions': ['.ts', '.tsx', '.js'],
  'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
  'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js'] })],
};

const restricted = (patterns, message) => ['error', { patterns: [{ group: patterns, message }] }];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'release/**', 'data/**', 'build/icons/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    plugins: { 'import-x': importX },
    settings: IMPORT_SETTINGS,
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // The code base's own conventions where the recommended set is stricter than they need.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', destructuredArrayIgnorePattern: '^_' }],
      // A variable declared before the closures that read it and set once after them stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // The boundaries hold for what ships; tests, benchmarks and end-to-end runs start real servers.
    files: ['**/*.ts', '**/*.tsx'],
    ignores: ['**/*.test.ts', '**/*.test.tsx', '**/e2e/**', '**/bench/**'],
    plugins: { 'import-x': importX },
    settings: IMPORT_SETTINGS,
    rules: {
      'import-x/no-restricted-paths': ['error', {
        zones: [
          { target: './common', from: ['./backend', './main', './preload', './renderer'], message: 'common/ is shared by every half and imports nothing outside itself' },
          { target: './renderer/src', from: ['./backend', './main', './preload'], message: 'the renderer reaches the rest only through common/ (the API contract) and its LapseApi' },
          { target: './preload/src', from: ['./backend', './main', './renderer'], message: 'the preload imports only common/ (the IPC contract)' },
          { target: './backend/src/domain', from: ['./backend/src/store', './backend/src/engine', './backend/src/api', './backend/src/services', './backend/src/integrations', './backend/src/cli', './backend/src/service.ts'], message: 'domain/ is logic without I/O: no store, engine, API or integrations' },
          { target: './backend/src/api/routes', from: ['./backend/src/store'], message: 'routes call the engine and the read services (services/), not the store' },
        ],
      }],
    },
  },
  {
    // Tests read answers of any shape and assert on them field by field.
    files: ['**/*.test.ts', '**/*-test-support.ts', '**/test-support.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['common/**/*.ts'],
    ignores: ['common/**/*.test.ts'],
    rules: { 'no-restricted-imports': restricted([...NODE_BUILTINS, 'electron'], 'common/ runs in the browser, the tray and the server alike: no Node built-in, no electron') },
  },
  {
    files: ['renderer/src/**/*.ts', 'renderer/src/**/*.tsx'],
    ignores: ['renderer/src/**/*.test.ts'],
    rules: { 'no-restricted-imports': restricted([...NODE_BUILTINS, 'electron'], 'the renderer runs without Node: no Node built-in, no electron') },
  },
  {
    files: ['preload/src/**/*.ts'],
    rules: { 'no-restricted-imports': restricted(NODE_BUILTINS, 'the preload is sandboxed: electron\'s contextBridge and ipcRenderer only, no Node built-in') },
  },
  {
    files: ['backend/src/domain/**/*.ts'],
    ignores: ['backend/src/domain/**/*.test.ts'],
    rules: { 'no-restricted-imports': restricted(IO_BUILTINS, 'domain/ is logic without I/O') },
  },
);
