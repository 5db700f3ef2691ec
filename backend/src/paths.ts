// Where the project's own files are (the built renderer, the example configuration, the
// JSON Schema), found from wherever the running code is: the TypeScript sources
// (backend/src/…), the compiled backend (backend/dist/…), or the desktop app's bundle
// (main/dist/main.js, inside app.asar once packaged). Each of those lies below the project's
// root, the nearest folder upwards whose package.json is Lapse's.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'lapse';

/** The nearest folder at or above `from` holding Lapse's package.json. */
export function projectRootFrom(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === PACKAGE_NAME) return dir;
    } catch {
      // no package.json here, or not one we can read: look further up
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of "${PACKAGE_NAME}" above ${from}: the project's files cannot be found`);
  }
}

let root: string | undefined;

/** The project's root folder (see projectRootFrom), found once from this module's location. */
export function projectRoot(): string {
  root ??= projectRootFrom(dirname(fileURLToPath(import.meta.url)));
  return root;
}

/** A path inside the project, e.g. projectPath('renderer', 'dist'). */
export function projectPath(...parts: string[]): string {
  return join(projectRoot(), ...parts);
}
