// The people Lapse knows besides the configuration file: those single sign-on created or
// refreshed from the provider's claims, kept in the store (so every replica sees them) and
// merged into the running configuration. Also assembles single sign-on from settings.oidc:
// the sign-in, and the renewal of each person at the provider.

import { readFileSync } from 'node:fs';
import { CompiledConfig } from '../domain/catalog.ts';
import { DEFAULT_TOKEN_LIFETIMES, type LapseConfig, type ResourceConfig } from '../domain/config.ts';
import { knownUsers, stepUpFor, type KnownIdentity } from '../domain/sign-in.ts';
import { OidcClient } from '../auth/oidc-client.ts';
import { REFRESH_TOKENS, SecretSealer } from '../auth/secret-sealer.ts';
import { SignInService } from './sign-in.ts';
import { ProviderRenewal } from './renewal.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../logger.ts';

export class Identities {
  private known: KnownIdentity[] = [];
  private fingerprint = '';

  constructor(private readonly store: Store) {}

  /** Reads the identities from the store; true when they changed since the last read. */
  async load(): Promise<boolean> {
    const known = (await this.store.listProvisionedUsers()).sort((a, b) => a.id.localeCompare(b.id));
    const fingerprint = JSON.stringify(known.map((u) => [u.id, u.email, u.name, u.groups, u.manager, u.attributes, u.disabledAt]));
    const changed = fingerprint !== this.fingerprint;
    this.known = known;
    this.fingerprint = fingerprint;
    return changed;
  }

  /** The configuration with the people single sign-on knows merged into its users, and the discovered resources (services/discovery.ts). */
  compile(config: LapseConfig, discovered?: ReadonlyMap<string, ResourceConfig[]>): CompiledConfig {
    const provision = config.settings.oidc?.provisionUsers ?? false;
    return new CompiledConfig(this.known.length ? { ...config, users: knownUsers(config.users, this.known, provision) } : config, discovered);
  }
}

/** Single sign-on as settings.oidc describes it (read at start), or undefined where it is not configured. */
export function createSignIn(d: {
  config: () => LapseConfig;
  env: NodeJS.ProcessEnv;
  store: Store;
  now: () => number;
  isKnownUser: (userId: string) => boolean;
  identitiesChanged: () => Promise<void>;
  /** The server's secret key: the provider's refresh tokens are sealed under a key derived from it. */
  secretKey: Buffer;
  logger: Logger;
}): { signIn: SignInService; renewal: ProviderRenewal } | undefined {
  const { oidc, publicUrl } = d.config().settings;
  if (!oidc || !publicUrl) return undefined;
  const client = new OidcClient(oidc, `${publicUrl}/auth/callback`, clientSecret(oidc.clientSecret, d.env));
  const refreshTokens = new SecretSealer(d.secretKey, REFRESH_TOKENS);
  const signIn = new SignInService({
    settings: oidc, client, store: d.store, now: d.now, configuredUsers: () => d.config().users,
    isKnownUser: d.isKnownUser, identitiesChanged: d.identitiesChanged, logger: d.logger,
    stepUpFor: (flowId) => {
      const flow = d.config().flows.find((f) => f.id === flowId);
      if (!flow) return { problem: `no flow "${flowId}"` };
      if (!flow.settings.requireMfa) return { problem: `flow "${flowId}" does not require MFA: no step-up is needed` };
      return stepUpFor(oidc, flow.settings);
    },
    tokenLifetimes: () => d.config().settings.tokens ?? DEFAULT_TOKEN_LIFETIMES,
    refreshTokens,
  });
  const renewal = new ProviderRenewal({ settings: () => oidc, client, store: d.store, now: d.now, identitiesChanged: d.identitiesChanged, refreshTokens, logger: d.logger });
  return { signIn, renewal };
}

function clientSecret(ref: { env: string } | { file: string } | null, env: NodeJS.ProcessEnv): string | undefined {
  if (ref === null) return undefined;
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) throw new Error(`settings.oidc.clientSecretEnv names the environment variable ${ref.env}, which is not set`);
    return value;
  }
  try {
    const value = readFileSync(ref.file, 'utf8').trim();
    if (!value) throw new Error('the file is empty');
    return value;
  } catch (err) {
    throw new Error(`settings.oidc.clientSecretFile ${ref.file} cannot be read: ${(err as Error).message}`);
  }
}
