// The environment the embedded backend gets: the variables its configuration names for
// secrets (connections' `…Env` keys such as `passwordEnv`, single sign-on's client secret,
// the notification channels' and audit stream's secrets, users' TOTP secrets) and what the
// process needs to run commands (PATH, HOME), never the rest of the app's environment.
// Pure: it only reads the configuration's types.

import type { LapseConfig, SecretRef } from '../../backend/src/domain/config.ts';

/** What the process itself needs (the command integration runs its program with PATH and HOME). */
export const PROCESS_ENV_NAMES = ['PATH', 'HOME'] as const;

const envOf = (ref: SecretRef | null | undefined): string[] => (ref && 'env' in ref ? [ref.env] : []);

/** Every environment variable name `config` refers to for a secret, each once, in order of appearance. */
export function configEnvNames(config: LapseConfig): string[] {
  const names: string[] = [];
  for (const i of config.integrations) {
    for (const [key, value] of Object.entries(i.connection)) if (key.endsWith('Env') && typeof value === 'string') names.push(value);
  }
  names.push(...envOf(config.settings.oidc?.clientSecret));
  for (const u of config.users) if (u.mfa?.totpSecretEnv) names.push(u.mfa.totpSecretEnv);
  const n = config.notifications;
  if (n) {
    names.push(...envOf(n.email?.password));
    for (const c of n.chat) names.push(...envOf(c.url));
    for (const w of n.webhooks) names.push(...envOf(w.secret));
  }
  for (const s of config.auditStream?.subscribers ?? []) if (s.type === 'webhook') names.push(...envOf(s.secret));
  return [...new Set(names.filter((x) => x.length > 0))];
}

/**
 * The embedded backend's environment: from `env`, the variables `config` names and those
 * the process needs, where set; nothing else (no LAPSE_* of a team server, no unrelated secret).
 */
export function embeddedEnv(config: LapseConfig | null, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const name of [...PROCESS_ENV_NAMES, ...(config ? configEnvNames(config) : [])]) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
