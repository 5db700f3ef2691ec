// The command line's options, and what the verbs share to read them: required values, the
// API client from --url and --token, --json output, and the error for a wrong command.

import type { parseArgs } from 'node:util';
import { ApiClient } from './client.ts';
import { readCredential } from './credentials.ts';
import { jsonText, type Output } from './format.ts';

export const OPTIONS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  store: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  'log-level': { type: 'string' },
  'expires-in': { type: 'string' },
  'no-browser': { type: 'boolean' },
  'step-up': { type: 'string' },
  device: { type: 'boolean' },
  user: { type: 'string' },
  name: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  entitlement: { type: 'string', multiple: true },
  bundle: { type: 'string' },
  duration: { type: 'string' },
  justification: { type: 'string' },
  'start-at': { type: 'string' },
  mfa: { type: 'string' },
  'break-glass': { type: 'boolean' },
  reason: { type: 'string' },
  flow: { type: 'string' },
  integration: { type: 'string' },
  label: { type: 'string' },
  resource: { type: 'string' },
  cursor: { type: 'string' },
  status: { type: 'string' },
  all: { type: 'boolean' },
  format: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  state: { type: 'string' },
  'revoke-removed': { type: 'boolean' },
  yes: { type: 'boolean' },
  type: { type: 'string' },
  tag: { type: 'string' },
  prefix: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** One verb: the positionals after its name, the options; resolves to the exit code. */
export type Verb = (args: string[], v: Values, o: Output) => Promise<number>;

/** A wrong command or argument: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {}

export function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`${what} is required`);
  return value;
}

const NO_TOKEN = 'a token is required: --token TOKEN or LAPSE_TOKEN, or sign in with `lapse login` (an admin makes one with `lapse token create --user ID --data-dir DIR`)';

/** The token: --token, else LAPSE_TOKEN, else the one `lapse login` stored. */
export function apiToken(v: Values): string {
  const token = v.token || process.env.LAPSE_TOKEN || readCredential()?.token;
  if (!token) throw new UsageError(NO_TOKEN);
  return token;
}

/** The server: --url, else LAPSE_URL, else the one `lapse login` signed in to, else the local default. */
export function serverUrl(v: Values): string {
  return v.url || process.env.LAPSE_URL || readCredential()?.url || 'http://127.0.0.1:7420';
}

export function apiClient(v: Values): ApiClient {
  return new ApiClient(serverUrl(v), apiToken(v));
}

/** Prints `data` as JSON with --json, else as `human` prints it. */
export function emitter(v: Values, o: Output): (data: unknown, human: () => void) => void {
  return (data, human) => (v.json ? o.data(jsonText(data, 2)) : human());
}
