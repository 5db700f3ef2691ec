// A secret given by reference: `<name>Env` (an environment variable) or `<name>File` (a file
// path), one of the two; `<name>` itself would hold it inline and is refused.

import type { SecretRef } from '../domain/config.ts';
import type { Fields, Reader } from './yaml-reader.ts';

/** The keys a map holding the secret `name` may use. */
export const secretKeys = (name: string): string[] => [`${name}?`, `${name}Env?`, `${name}File?`];

/**
 * The reference to the secret `name` in the map `f` (at `node`, `path`): undefined with an
 * error when it is inline, given both ways, or (when `required`) missing; null when optional
 * and absent.
 */
export function readSecretRef(r: Reader, f: Fields, node: unknown, path: string, name: string, what: string, required: boolean): SecretRef | null | undefined {
  const env = `${name}Env`;
  const file = `${name}File`;
  if (f.has(name)) return r.error(f.get(name), f.at(name), `"${name}" would hold ${what} inline; give it by reference instead: ${env} (an environment variable) or ${file} (a file path)`);
  if (f.has(env) && f.has(file)) return r.error(f.get(file), f.at(file), `give ${what} one way: ${env} or ${file}, not both`);
  if (f.has(env)) {
    const v = r.name(f.get(env), f.at(env), 'an environment variable name');
    return v === undefined ? undefined : { env: v };
  }
  if (f.has(file)) {
    const v = r.name(f.get(file), f.at(file), 'a file path');
    return v === undefined ? undefined : { file: v };
  }
  return required ? r.error(node, path, `${what} is required: ${env} (an environment variable) or ${file} (a file path)`) : null;
}
