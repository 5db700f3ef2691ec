// Reads the Lapse configuration file (YAML) into the validated, normalised LapseConfig.
//
// Every problem is reported, not just the first: each error names the file, the line and
// column of the offending YAML node (for a missing key, the map that should hold it) and
// the path inside the document, e.g.
//
//   lapse.yaml:42:13: flows[2].approval.groups[0].conditions[1].op: expected one of is, is not, contains, does not contain, starts with; got "equals"
//
// ## The file
//
// Every map refuses keys it does not know. Keys marked (required) must be present; every
// other key is optional and its default is given. Ids (users, groups, shifts,
// integrations, bundles, flows) are letters, digits and `.`, `_`, `-`, `@`, starting with a
// letter or digit, and unique in their kind. Durations are written "45s", "90m", "1h30m",
// "2d", "1w" (units w, d, h, m, s, largest first). Times of day are "HH:MM" (quote them or
// not), dates "YYYY-MM-DD", time zones IANA names ("UTC", "Europe/Berlin").
//
// ```yaml
// settings:                      # optional
//   admins: [carol]              # user ids with the admin role; default none
//   expiryWarnings: [10m, 1m]    # warn the requester this long before expiry; default [10m, 1m]
//   reconcileEvery: 5m           # how often Lapse removes what it created that no request covers
//                                # (at least 10s, or "off"); default 5m
//   healthCheckEvery: 1m         # how often every integration's health is checked (at least 10s); default 1m
//   discoverEvery: 5m            # how often each integration's resources are discovered (at least 10s); default 5m
//   trustProxy: [10.0.0.5]       # proxies whose X-Forwarded-For is believed: false (default), true,
//                                # a number of hops, or addresses / CIDR ranges; read at start
//
// identities:
//   users:
//     - id: alice                # (required)
//       email: alice@example.com # (required)
//       name: Alice              # default = id
//       groups: [engineering]    # default []; a group listed here exists without being declared
//       manager: bob             # a user id
//       attributes:              # free attributes for conditions: a string or a list of strings
//         team: payments         # (names user, email, group, manager, shift, owner are built in)
//         regions: [eu, us]
//       mfa: { totpSecretEnv: ALICE_TOTP }   # or { totpSecretFile: /path }; the base32 TOTP secret
//   groups:                      # optional: to give a group a display name or declare an empty one
//     - { id: sre-leads, name: SRE leads }   # name default = id
//   shifts:
//     - id: sre-oncall           # every key of a shift is required
//       timezone: UTC
//       rotation: weekly         # daily | weekly
//       handoff: "09:00"         # local time at which the next member takes over
//       members: [alice, bob]    # user ids, in rotation order
//       anchor: 2026-01-05       # local date on which members[0]'s first shift starts at handoff
//
// integrations:
//   - id: demo                   # (required)
//     type: demo                 # (required) demo | postgresql | mysql | redis | webhook | command
//     name: Demo                 # default = id
//     owner: { group: sre-leads }   # or { user: bob }; optional
//     connection: {}             # type specific, default {}. Secrets only by reference: a key
//                                # named password, secret, token, apiKey, key, authorization (or
//                                # ending so: adminPassword) is refused, use passwordEnv (an
//                                # environment variable) or passwordFile (a file path); a URL with
//                                # a password in it is refused too
//     resourceTypes:             # default: the type's built-in resource types and permissions
//       database: { permissions: [read, write, admin] }
//     resources:                 # declared resources; default [] (postgresql and mysql also discover theirs)
//       - { type: database, name: app, tags: { env: prod }, owner: { user: bob } }   # tags default {}
//       - { type: table, name: users, parent: app }   # parent: the path of a declared resource
//                                # a resource's path is `parent/name`, or `name` alone
//     tagRules:                  # tags for discovered resources; default []
//       - { parent: app/public, tags: { pii: "true" } }          # everything under app/public
//       - { path: "app/*/audit_*", type: table, tags: { audit: "true" } }   # * within a segment, ** across
//
// bundles:
//   - id: demo-bundle            # (required)
//     name: Demo bundle          # default = id
//     targets:                   # (required, at least one) target selectors, as in flows
//       - { integration: demo, resourceType: database, resources: any, permissions: [read] }
//
// flows:
//   - id: prod-db-read           # (required)
//     name: Production DB read   # default = id
//     description: …             # default ""
//     kind: self-serve           # self-serve (granted on request) | automatic (held while the
//                                # requester conditions hold); default self-serve
//     requesters:                # default: everyone
//       match: any               # all | any; default all
//       conditions:              # (required) may be [] (everyone)
//         - { attribute: group, op: is, value: [engineering] }
//     when:                      # default: always; every key required
//       days: [mon, tue, wed, thu, fri]   # mon tue wed thu fri sat sun, at least one
//       from: "08:00"
//       to: "20:00"              # at or before `from`: the window ends the next day
//       timezone: Europe/Berlin
//     targets:                   # (required, at least one)
//       - integration: demo      # a target selector: every key required
//         resourceType: database # a resource type of that integration
//         resources: any         # any | { except: [names] } | { names: [names] }
//                                # | { tags: { k: v } } | { parents: [paths] }
//         permissions: [read]    # permissions of that resource type, at least one
//       - { bundle: demo-bundle }   # or a bundle, alone
//     grantFor: 1h               # a duration or "indefinite"; default 1h
//     maxDuration: 8h            # a duration or "indefinite"; default = grantFor; not below grantFor
//     approval: automatic        # required for self-serve flows; automatic, or:
//     # approval:
//     #   mode: anyOf            # anyOf: one approval from any group; allOf: one from each group
//     #   groups:                # at least one; each a condition group with at least one condition
//     #     - { match: any, conditions: [ { attribute: group, value: sre-leads } ] }
//     #     - { conditions: [ { attribute: manager } ] }
//     settings:                  # each key optional, defaults shown
//       requireJustification: false
//       requireApproverReason: false
//       requesterCannotApproveOwn: true
//       requireMfa: false
//       labels: []
//       maxExtensions: 2         # how many times one request may be extended (integer ≥ 0)
//       breakGlass: false        # self-approval with a mandatory reason, for emergencies
// ```
//
// Conditions are `{ attribute, op, value }`. attribute: user, email, group, manager,
// shift, owner, or a custom attribute name. op: is, is not, contains, does not contain,
// starts with; default is. value: a string or a list of strings (alternatives). Only
// `manager` and `owner` may omit value, and only in approval groups: there they mean "the
// requester's manager" and "the owner of the integration or resource asked for". With op
// is / is not, the values of user and manager conditions must be declared users, of group
// conditions known groups, of shift conditions declared shifts.
//
// A flow of kind automatic has no approval (omit it or write `automatic`) and no duration
// (omit grantFor and maxDuration or write `indefinite`): the access is held while the
// requester conditions (and `when`) hold.
//
// ## The modules
//
// This file is the entry point: it parses the YAML and reads the top-level map. Each
// section has its reader: identities.ts (users, groups, shifts), integrations.ts (with
// connection.ts for each type's connection), targets.ts (target selectors and bundles),
// flows.ts (conditions, approval, time windows) and settings.ts. yaml-reader.ts holds the
// Reader they all use: positions, errors and their formatting, ids and references.

import { readFile } from 'node:fs/promises';
import { LineCounter, isScalar, parseDocument, type ErrorCode } from 'yaml';
import type { GroupConfig, LapseConfig } from '../domain/config.ts';
import { readAuditStream } from './audit-stream.ts';
import { readFlow } from './flows.ts';
import { readIdentities } from './identities.ts';
import { readIntegration, type ResourceTypesByIntegration } from './integrations.ts';
import { readNotifications } from './notifications.ts';
import { defaultSettings, readSettings } from './settings.ts';
import { readBundle } from './targets.ts';
import { Reader, formatConfigErrors, optionalList, type ConfigError } from './yaml-reader.ts';

export { BUILT_IN_ATTRIBUTES } from './identities.ts';
export { SECRET_WORDS } from './integrations.ts';
export { Fields, ID_PATTERN, Reader, formatConfigErrors, type ConfigError } from './yaml-reader.ts';

export class ConfigInvalidError extends Error {
  readonly errors: ConfigError[];
  constructor(errors: ConfigError[]) {
    super(formatConfigErrors(errors));
    this.name = 'ConfigInvalidError';
    this.errors = errors;
  }
}

/** Reads and validates a configuration file; throws ConfigInvalidError listing every problem. */
export async function loadConfigFile(path: string): Promise<LapseConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigInvalidError([{ file: path, line: 1, column: 1, path: '', message: `cannot read the configuration file: ${reason}` }]);
  }
  const result = parseConfig(text, path);
  if (!result.ok) throw new ConfigInvalidError(result.errors);
  return result.config;
}

/** Validates and normalises configuration text; `file` only labels the errors. */
export function parseConfig(text: string, file: string): { ok: true; config: LapseConfig } | { ok: false; errors: ConfigError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const reader = new Reader(file, lines, doc);
  if (doc.errors.length > 0) {
    // The tree of a document with syntax errors is not worth walking: its errors would be echoes.
    for (const e of doc.errors) reader.errorAt(e.pos[0], '', `YAML syntax: ${SYNTAX_MESSAGES[e.code] ?? e.message.split('\n')[0]}`);
    return { ok: false, errors: reader.sortedErrors() };
  }
  const config = readConfig(reader, doc.contents);
  const errors = reader.sortedErrors();
  return errors.length === 0 && config !== undefined ? { ok: true, config } : { ok: false, errors };
}

/** Our words for the parser's messages that speak of its API rather than of the file. */
const SYNTAX_MESSAGES: Partial<Record<ErrorCode, string>> = {
  MULTIPLE_DOCS: 'the file holds more than one YAML document ("---"); expected exactly one',
  DUPLICATE_KEY: 'this key appears twice in the same map; keys must be unique',
};

// ---------------------------------------------------------------------------------------
// The file, section by section. Sections are read in dependency order (identities,
// integrations, bundles, flows, settings) whatever their order in the file; references
// to users, groups, shifts, integrations and bundles are checked at the end, so they may
// point forward.

function readConfig(r: Reader, root: unknown): LapseConfig | undefined {
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) {
    r.error(root, '', 'the configuration is empty; expected a map with identities, integrations, bundles and flows');
    return undefined;
  }
  const top = r.map(root, '', ['settings?', 'identities?', 'integrations?', 'bundles?', 'flows?', 'notifications?', 'auditStream?'], 'a map with identities, integrations, bundles and flows');
  if (top === undefined) return undefined;

  const identities = top.has('identities') ? readIdentities(r, top.get('identities'), top.at('identities')) : { users: [], groups: [], shifts: [] };
  const resourceTypes: ResourceTypesByIntegration = new Map();
  const integrations = optionalList(r, top, 'integrations', (n, p) => readIntegration(r, n, p, resourceTypes));
  const bundles = optionalList(r, top, 'bundles', (n, p) => readBundle(r, n, p, resourceTypes));
  const flows = optionalList(r, top, 'flows', (n, p) => readFlow(r, n, p, resourceTypes));
  const settings = top.has('settings') ? readSettings(r, top.get('settings'), top.at('settings')) : defaultSettings();

  const auditStream = top.has('auditStream') ? readAuditStream(r, top.get('auditStream'), top.at('auditStream')) : undefined;
  const notifications = top.has('notifications') ? readNotifications(r, top.get('notifications'), top.at('notifications')) : undefined;
  for (const [i, c] of (notifications?.chat ?? []).entries()) {
    for (const flow of c.flows) if (!flows.some((fl) => fl.id === flow)) r.error(top.get('notifications'), `notifications.chat[${i}].flows`, `unknown flow "${flow}"`);
  }
  r.checkRefs();
  if (settings === undefined) return undefined;
  if (top.has('auditStream') && auditStream === undefined) return undefined;
  if (top.has('notifications') && notifications === undefined) return undefined;

  const groups: GroupConfig[] = [...identities.groups];
  for (const id of identities.users.flatMap((u) => u.groups)) if (!groups.some((g) => g.id === id)) groups.push({ id, name: id });
  return { users: identities.users, groups, shifts: identities.shifts, integrations, bundles, flows, settings, ...(auditStream ? { auditStream } : {}), ...(notifications ? { notifications } : {}) };
}
