// Integration credentials are never written in the configuration: a connection names an
// environment variable (`passwordEnv: LAPSE_PG_PASSWORD`) or a file (`passwordFile:
// /etc/lapse/pg.pw`) that holds the secret, and the secret is read when the integration is
// created. Error messages name the variable or the file, never what it holds.

import { readFileSync } from 'node:fs';

export class CredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialError';
  }
}

/**
 * Reads the secret `name` (e.g. "password", "secret") of a connection: from the
 * environment variable `<name>Env` or the file `<name>File` (one trailing newline dropped).
 * Undefined when neither is given, unless `required`.
 */
export function resolveSecret(
  connection: Record<string, unknown>,
  name: string,
  opts: { integration: string; env: NodeJS.ProcessEnv; required?: boolean },
): string | undefined {
  const envKey = `${name}Env`;
  const fileKey = `${name}File`;
  const where = `integration "${opts.integration}"`;
  const envName = connection[envKey];
  const file = connection[fileKey];
  if (typeof envName === 'string') {
    const value = opts.env[envName];
    if (value === undefined || value === '') throw new CredentialError(`${where}: connection.${envKey} names the environment variable ${envName}, which is not set`);
    return value;
  }
  if (typeof file === 'string') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CredentialError(`${where}: connection.${fileKey}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const value = text.replace(/\r?\n$/, '');
    if (value === '') throw new CredentialError(`${where}: connection.${fileKey}: ${file} is empty`);
    return value;
  }
  if (opts.required) throw new CredentialError(`${where}: connection.${envKey} or connection.${fileKey} is required`);
  return undefined;
}

/** Replaces every occurrence of each secret in `text` (for error output a target echoed back). */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) if (s !== undefined && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}
