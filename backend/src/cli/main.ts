// The `lapse` command line: the server, offline tools that work on a data directory
// (tokens, config check, audit verify) and client verbs against a running server. This
// file parses the arguments, holds the usage text and sends each verb to its module.

import { parseArgs } from 'node:util';
import { ApiError } from './client.ts';
import { output } from './format.ts';
import { apiClient, OPTIONS, UsageError, type Verb } from './args.ts';
import { configModule } from './lazy-modules.ts';
import { config, server } from './server.ts';
import { audit, migrateStoreVerb, token } from './store-tools.ts';
import { approvals, cancel, catalog, decision, extend, request, status } from './requests.ts';
import { favorites } from './favorites.ts';
import { integrations, markRevokeCanceled, notifications, reconcile, resources, retryRevoke, revokeAll, stuck } from './admin.ts';
import { watchCommand } from './watch-command.ts';
import { login, logout, renewStoredCredentialIfDue } from './login.ts';
import { mfa } from './mfa.ts';

export { UsageError } from './args.ts';

const USAGE = `lapse — just-in-time access

Server and offline tools:
  lapse server --config FILE --data-dir DIR [--port N] [--host H] [--store postgres://…] [--log-level L]
                                     (store: --store or LAPSE_DATABASE_URL; default SQLite in the data dir;
                                     log level: trace, debug, info (default), warn, error, fatal or silent,
                                     or LAPSE_LOG_LEVEL; JSON lines on stderr, readable on a terminal)
  lapse config check FILE            validate a configuration; every error with file:line:column
  lapse config schema                print the JSON Schema of the configuration file
  lapse config reload [--revoke-removed]
                                     ask the running server to re-read its configuration and apply it,
                                     integrations included; prints what changed (admin). Removing an
                                     integration that requests still hold is refused, with them listed;
                                     --revoke-removed revokes them instead
  lapse token create --user ID --data-dir DIR [--name TEXT] [--expires-in 90d]
                                     (a user of the configuration the server last loaded; default 90d, at most 366d)
  lapse token list --data-dir DIR [--user ID]
  lapse token revoke TOKEN_ID --data-dir DIR
  lapse audit verify [--data-dir DIR]  verify the audit hash chain (offline with --data-dir or --store)
  lapse migrate-store --from sqlite:PATH --to postgres://…
                                     copy an embedded store into an empty PostgreSQL database
  (token and audit verify take --store URL instead of --data-dir for a PostgreSQL store)

Client (server from --url or LAPSE_URL, default http://127.0.0.1:7420; token from --token or LAPSE_TOKEN;
        else both from lapse login):
  lapse login [--url URL] [--no-browser] [--step-up FLOW] [--device]
                                     sign in through the identity provider (single sign-on);
                                     the token is kept in ~/.config/lapse/credentials.json (0600);
                                     --step-up: authenticate again for a flow that requires MFA;
                                     --device: no browser here: a code to type on any device
  lapse logout                       revoke that token and forget it
  lapse catalog                                   what you may request now
  lapse request FLOW [--entitlement I/TYPE:RESOURCE#PERMISSION ...] [--bundle ID]
                [--duration 1h] [--justification TEXT] [--start-at ISO] [--mfa CODE] [--break-glass]
  lapse status [REQUEST_ID] [--all] [--status S] [--cursor C]  your requests (100 at a time), or one in detail
  lapse approvals [--cursor C]                    requests waiting for your decision (100 at a time)
  lapse approve|deny REQUEST_ID [--reason TEXT]
  lapse revoke REQUEST_ID [--reason TEXT]
  lapse cancel REQUEST_ID
  lapse extend REQUEST_ID --duration 30m [--justification TEXT]
  lapse mark-revoke-canceled REQUEST_ID [REQUEST_ID ...] --reason TEXT   (admin)
  lapse stuck [--cursor C]                        requests stuck in revoking: attempts, next retry, last error (admin)
  lapse retry-revoke REQUEST_ID [REQUEST_ID ...]  retry their revokes now (admin)
  lapse favorites [list | add --name N FLOW ... | save REQUEST_ID [--name N] | request FAVORITE_ID | delete FAVORITE_ID]
  lapse mfa [status]                              your two-factor authentication (TOTP), for flows that require MFA
  lapse mfa setup                                 set it up: prints the secret for your authenticator app, once
  lapse mfa confirm CODE                          confirm it with a code from the app
  lapse mfa reset --mfa CODE                      remove your own (a confirmed one needs a current code)
  lapse mfa reset USER                            reset another person's, who lost their authenticator (admin)
  lapse revoke-all [--user ID] [--flow ID] [--integration ID] [--label L] [--resource R]
                   [--yes --reason TEXT]          what the filters match; with --yes, revoke it (admin)
  lapse audit export [--format csv|json] [--since ISO] [--until ISO]   (admin)
  lapse reconcile                                 remove what Lapse created on the targets that no
                                                  active request covers, and list it (admin)
  lapse integrations                              each integration's type, health and discovery
  lapse resources [--integration ID] [--type T] [--tag K=V] [--prefix PATH]
                                                  the inventory: declared and discovered resources,
                                                  with their tags and origin (admins, approvers)
  lapse resources sync [INTEGRATION]              discover resources now (admin)
  lapse notifications [--status pending|delivered|failed]   the notification outbox (admin)
  lapse notifications retry KEY                   deliver a failed notification again (admin)

  lapse watch [--state FILE]                      show notifications as they happen (desktop notifications)

Every client verb takes --json for machine-readable output.`;

/** Every verb by name; a verb with sub-verbs (config, token, audit, favorites, mfa) reads them from its arguments. */
const VERBS = new Map<string, Verb>([
  // Server and offline tools
  ['server', server],
  ['config', config],
  ['token', token],
  ['audit', audit],
  ['migrate-store', migrateStoreVerb],
  // Client verbs
  ['catalog', catalog],
  ['request', request],
  ['status', status],
  ['approvals', approvals],
  ['approve', decision('approve')],
  ['deny', decision('deny')],
  ['revoke', decision('revoke')],
  ['mark-revoke-canceled', markRevokeCanceled],
  ['stuck', stuck],
  ['retry-revoke', retryRevoke],
  ['cancel', cancel],
  ['extend', extend],
  ['favorites', favorites],
  ['mfa', mfa],
  ['revoke-all', revokeAll],
  ['reconcile', reconcile],
  ['integrations', integrations],
  ['resources', resources],
  ['notifications', notifications],
  ['watch', watchCommand],
  ['login', login],
  ['logout', logout],
]);

/** Runs one command; `write` takes one line at a time (human lines arrive escaped, see Output). */
export async function main(argv: string[], write: (line: string) => void = (s) => process.stdout.write(s + '\n')): Promise<number> {
  const o = output(write);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals: p } = parsed;
  const verb = p[0];
  if (!verb || v.help || verb === 'help') {
    o.data(USAGE); // the CLI's own text, in one write (`lapse --help | head` stays quiet)
    return 0;
  }
  const handler = VERBS.get(verb);
  if (!handler) {
    apiClient(v); // as for any client verb: without a token, that is what is said first
    throw new UsageError(`unknown command "${verb}"; see lapse --help`);
  }
  if (!NOT_CLIENT_VERBS.has(verb)) await renewStoredCredentialIfDue(v);
  return handler(p.slice(1), v, o);
}

/** The verbs that do not call a server as a client with the stored credential. */
const NOT_CLIENT_VERBS = new Set(['server', 'config', 'token', 'audit', 'migrate-store', 'login', 'logout']);

export async function run(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    // Errors carry the server's problem detail and the arguments given: escaped like any human line.
    const e = output((s) => process.stderr.write(s + '\n'));
    if (err instanceof UsageError) {
      e.line(`lapse: ${err.message}`);
      e.line('(see lapse --help)');
    } else if (err instanceof ApiError) {
      e.line(`lapse: ${err.message}`);
      if (err.hint) e.line(`lapse: ${err.hint}`);
    }
    else if (err instanceof (await configModule()).ConfigInvalidError) for (const line of err.message.split('\n')) e.line(line);
    else e.line(`lapse: ${(err as Error).message ?? String(err)}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
