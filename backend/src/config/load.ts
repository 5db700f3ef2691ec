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
//     resources:                 # declared resources; default [] (integrations also discover theirs)
//       - { type: database, name: app, tags: { env: prod }, owner: { user: bob } }   # tags default {}
//       - { type: table, name: users, parent: app }   # parent: the path of a declared resource
//                                # a resource's path is `parent/name`, or `name` alone
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

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { checkConnection, requiredConnectionKeys, resourceNameProblem } from './connection.ts';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type ErrorCode, type Scalar, type YAMLMap } from 'yaml';
import {
  CONDITION_OPS,
  DEFAULT_FLOW_SETTINGS,
  DEFAULT_RESOURCE_TYPES,
  INTEGRATION_TYPES,
  WEEKDAYS,
  type ApprovalPolicy,
  type BundleConfig,
  type Condition,
  type ConditionGroup,
  type FlowConfig,
  type FlowSettings,
  type FlowTarget,
  type GroupConfig,
  type IntegrationConfig,
  type LapseConfig,
  type MfaConfig,
  type OwnerRef,
  type ResourceConfig,
  type ResourceScope,
  type ResourceTypeConfig,
  type ServerSettings,
  type ShiftConfig,
  type TargetSelector,
  type TimeWindow,
  type UserConfig,
} from '../domain/config.ts';
import { formatDuration, parseDuration } from '../../../common/duration.ts';
import { formatHHMM, isValidTimeZone, parseHHMM, parseLocalDate } from '../domain/zoned-time.ts';

export interface ConfigError {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** Where in the document: `flows[2].approval.groups[0]`; "" for the document itself. */
  path: string;
  message: string;
}

export class ConfigInvalidError extends Error {
  readonly errors: ConfigError[];
  constructor(errors: ConfigError[]) {
    super(formatConfigErrors(errors));
    this.name = 'ConfigInvalidError';
    this.errors = errors;
  }
}

/** One error a line: `file:line:column: path: message` (no path part for the document itself). */
export function formatConfigErrors(errors: ConfigError[]): string {
  return errors
    .map((e) => `${e.file}:${e.line}:${e.column}: ${e.path === '' ? '' : `${e.path}: `}${e.message}`)
    .join('\n');
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
// The walker: helpers that read one YAML node each, record an error with the node's
// position when it is not what was expected, and return undefined in that case.

type DeclaredKind = 'user' | 'group' | 'shift' | 'integration' | 'bundle' | 'flow';
/** Kinds a reference may point at; groups also exist by being listed by a user. */
type RefKind = 'user' | 'group' | 'shift' | 'integration' | 'bundle';

/** What an id of a user, group, shift, integration, bundle or flow may look like (shared with the JSON Schema). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;
/** Condition attributes with a built-in meaning; a custom user attribute may not take these names. */
export const BUILT_IN_ATTRIBUTES = ['user', 'email', 'group', 'manager', 'shift', 'owner'];

function joinPath(path: string, key: string): string {
  const part = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  if (path === '') return part.startsWith('"') ? `[${part}]` : part;
  return part.startsWith('"') ? `${path}[${part}]` : `${path}.${part}`;
}

/** What a node holds, for "got …" in messages. */
function describe(node: unknown): string {
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const value = node.value;
    if (value === null || value === undefined) return 'nothing';
    if (typeof value === 'string') return value === '' ? 'an empty string' : JSON.stringify(value);
    if (typeof value === 'number') return `the number ${value}`;
    return String(value);
  }
  return 'nothing';
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** ` (did you mean "x"?)` when one candidate is a likely typo of `got`. */
function suggestion(got: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(got.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(got.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

function listForMessage(items: string[]): string {
  return items.length <= 12 ? items.join(', ') : `${items.slice(0, 12).join(', ')}, …`;
}

/** The keys of one YAML map, after its keys were checked. */
export class Fields {
  constructor(
    readonly node: YAMLMap,
    readonly path: string,
    private readonly entries: Map<string, { key: Scalar; value: unknown }>,
  ) {}

  /** The value node of `key`, or undefined when the key is absent or has no value (`key:` / `key: null`). */
  get(key: string): unknown {
    const value = this.entries.get(key)?.value;
    if (value === null || value === undefined || (isScalar(value) && value.value === null)) return undefined;
    return value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The path of `key` inside the document. */
  at(key: string): string {
    return joinPath(this.path, key);
  }
}

export class Reader {
  private readonly errors: ConfigError[] = [];
  private readonly declared = new Map<DeclaredKind, Map<string, number>>();
  private readonly refs: Array<{ kind: RefKind; id: string; node: unknown; path: string }> = [];
  private readonly listedGroups = new Set<string>();

  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
    private readonly doc: Document,
  ) {}

  // --- errors ---

  errorAt(offset: number, path: string, message: string): undefined {
    const { line, col } = this.lines.linePos(offset);
    this.errors.push({ file: this.file, line: Math.max(line, 1), column: Math.max(col, 1), path, message });
    return undefined;
  }

  /** Records an error at `node` (any YAML node; the document start when it has no position). */
  error(node: unknown, path: string, message: string): undefined {
    return this.errorAt(this.offsetOf(node), path, message);
  }

  line(node: unknown): number {
    return Math.max(this.lines.linePos(this.offsetOf(node)).line, 1);
  }

  sortedErrors(): ConfigError[] {
    return [...this.errors].sort((a, b) => a.line - b.line || a.column - b.column);
  }

  private offsetOf(node: unknown): number {
    const range = (node as { range?: unknown } | null | undefined)?.range;
    return Array.isArray(range) && typeof range[0] === 'number' ? range[0] : 0;
  }

  /** The node an alias stands for (positions stay those of the alias). */
  private deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  // --- shapes ---

  /** A map with the given keys ("name?" = optional); unknown keys and missing required keys are errors. */
  map(node: unknown, path: string, keys: readonly string[], what = 'a map'): Fields | undefined {
    const m = this.deref(node);
    if (!isMap(m)) return this.error(node, path, `expected ${what}; got ${describe(m)}`);
    const allowed = keys.map((k) => k.replace(/\?$/, ''));
    const entries = new Map<string, { key: Scalar; value: unknown }>();
    for (const pair of m.items) {
      const key = this.deref(pair.key);
      if (!isScalar(key) || typeof key.value !== 'string') {
        this.error(pair.key ?? node, path, `expected a key name; got ${describe(key)}`);
        continue;
      }
      if (!allowed.includes(key.value)) {
        this.error(key, joinPath(path, key.value), `unknown key ${JSON.stringify(key.value)}; expected one of ${allowed.join(', ')}${suggestion(key.value, allowed)}`);
        continue;
      }
      entries.set(key.value, { key, value: pair.value });
    }
    const fields = new Fields(m, path, entries);
    for (const key of keys) {
      if (key.endsWith('?')) continue;
      const entry = entries.get(key);
      if (entry === undefined) this.error(node, path, `missing required key "${key}"`);
      else if (!fields.has(key)) this.error(entry.value ?? entry.key, joinPath(path, key), `expected a value for "${key}"; got nothing`);
    }
    return fields;
  }

  /** A map with free keys, each value read by `item`. */
  dict<T>(
    node: unknown,
    path: string,
    item: (node: unknown, path: string, key: string, keyNode: unknown) => T | undefined,
    what = 'a map',
  ): Record<string, T> | undefined {
    const m = this.deref(node);
    if (!isMap(m)) return this.error(node, path, `expected ${what}; got ${describe(m)}`);
    // fromEntries: a key such as "__proto__" stays an ordinary key.
    const entries: Array<[string, T]> = [];
    for (const pair of m.items) {
      const key = this.deref(pair.key);
      if (!isScalar(key) || (typeof key.value !== 'string' && typeof key.value !== 'number') || key.value === '') {
        this.error(pair.key ?? node, path, `expected a key name; got ${describe(key)}`);
        continue;
      }
      const name = String(key.value);
      const value = item(pair.value ?? key, joinPath(path, name), name, key);
      if (value !== undefined) entries.push([name, value]);
    }
    return Object.fromEntries(entries);
  }

  /** A list, each item read by `item`; items that fail are left out (their errors recorded). */
  list<T>(node: unknown, path: string, item: (node: unknown, path: string) => T | undefined, opts: { nonEmpty?: boolean } = {}): T[] | undefined {
    const s = this.deref(node);
    if (!isSeq(s)) return this.error(node, path, `expected a list; got ${describe(s)}`);
    if (opts.nonEmpty === true && s.items.length === 0) return this.error(node, path, 'expected at least one item; got an empty list');
    const out: T[] = [];
    s.items.forEach((child, i) => {
      const value = item(child, `${path}[${i}]`);
      if (value !== undefined) out.push(value);
    });
    return out;
  }

  /** A list, or a single item standing for a list of one. */
  listOrOne<T>(node: unknown, path: string, item: (node: unknown, path: string) => T | undefined): T[] | undefined {
    if (isSeq(this.deref(node))) return this.list(node, path, item);
    const value = item(node, path);
    return value === undefined ? undefined : [value];
  }

  // --- scalars ---

  /** A string (possibly empty). */
  str(node: unknown, path: string, what = 'a string'): string | undefined {
    const s = this.deref(node);
    if (isScalar(s) && typeof s.value === 'string') return s.value;
    return this.error(node, path, `expected ${what}; got ${describe(s)}`);
  }

  /** A non-empty string. */
  name(node: unknown, path: string, what = 'a non-empty string'): string | undefined {
    const s = this.str(node, path, what);
    if (s === '') return this.error(node, path, `expected ${what}; got an empty string`);
    return s;
  }

  /** A string, number or boolean, as a string: for attribute values, tags and condition values. */
  text(node: unknown, path: string): string | undefined {
    const s = this.deref(node);
    if (isScalar(s) && (typeof s.value === 'string' || typeof s.value === 'number' || typeof s.value === 'boolean')) return String(s.value);
    return this.error(node, path, `expected a string; got ${describe(s)}`);
  }

  id(node: unknown, path: string): string | undefined {
    const s = this.name(node, path, 'an id');
    if (s !== undefined && !ID_PATTERN.test(s)) {
      return this.error(node, path, `expected an id (letters, digits, ".", "_", "-", "@", starting with a letter or digit); got ${JSON.stringify(s)}`);
    }
    return s;
  }

  bool(node: unknown, path: string): boolean | undefined {
    const s = this.deref(node);
    if (isScalar(s) && typeof s.value === 'boolean') return s.value;
    return this.error(node, path, `expected true or false; got ${describe(s)}`);
  }

  int(node: unknown, path: string, min: number): number | undefined {
    const s = this.deref(node);
    if (isScalar(s) && typeof s.value === 'number' && Number.isInteger(s.value) && s.value >= min) return s.value;
    return this.error(node, path, `expected a whole number of at least ${min}; got ${describe(s)}`);
  }

  oneOf<T extends string>(node: unknown, path: string, options: readonly T[]): T | undefined {
    const s = this.deref(node);
    const found = isScalar(s) ? options.find((o) => o === s.value) : undefined;
    if (found !== undefined) return found;
    const hint = isScalar(s) && typeof s.value === 'string' ? suggestion(s.value, options) : '';
    return this.error(node, path, `expected one of ${options.join(', ')}; got ${describe(s)}${hint}`);
  }

  /** Milliseconds; with `indefinite`, the word "indefinite" gives null. */
  duration(node: unknown, path: string, opts: { indefinite: true }): number | null | undefined;
  duration(node: unknown, path: string, opts?: { indefinite: false }): number | undefined;
  duration(node: unknown, path: string, opts: { indefinite: boolean } = { indefinite: false }): number | null | undefined {
    const s = this.deref(node);
    const alternatives = opts.indefinite ? ' or "indefinite"' : '';
    if (!isScalar(s) || typeof s.value !== 'string') {
      return this.error(node, path, `expected a duration such as "90m", "1h" or "1h30m"${alternatives}; got ${describe(s)}`);
    }
    if (opts.indefinite && s.value === 'indefinite') return null;
    try {
      return parseDuration(s.value);
    } catch (err) {
      return this.error(node, path, `${(err as Error).message}${opts.indefinite ? '; "indefinite" is also accepted' : ''}`);
    }
  }

  /** "HH:MM", normalised to two-digit hours. */
  timeOfDay(node: unknown, path: string): string | undefined {
    const s = this.str(node, path, 'a time of day "HH:MM"');
    if (s === undefined) return undefined;
    try {
      return formatHHMM(parseHHMM(s));
    } catch (err) {
      return this.error(node, path, (err as Error).message);
    }
  }

  timeZone(node: unknown, path: string): string | undefined {
    const s = this.name(node, path, 'an IANA time zone such as "UTC" or "Europe/Berlin"');
    if (s !== undefined && !isValidTimeZone(s)) {
      return this.error(node, path, `expected an IANA time zone such as "UTC" or "Europe/Berlin"; got ${JSON.stringify(s)}, which is not a time zone this runtime knows`);
    }
    return s;
  }

  date(node: unknown, path: string): string | undefined {
    const s = this.str(node, path, 'a date "YYYY-MM-DD"');
    if (s === undefined) return undefined;
    try {
      parseLocalDate(s);
      return s;
    } catch (err) {
      return this.error(node, path, (err as Error).message);
    }
  }

  /**
   * A plain JavaScript value (connection settings are passed through as they are). Free-form
   * maps are the only place the walk is not bounded by the file's shape, so an alias to an
   * enclosing collection is refused here, where it would otherwise recurse forever.
   */
  plain(node: unknown, path: string, enclosing: ReadonlySet<unknown> = new Set()): unknown {
    const n = this.deref(node);
    if (enclosing.has(n)) return this.error(node, path, 'an alias to a collection that contains it; expected plain data');
    const inner = new Set([...enclosing, n]);
    if (isMap(n)) {
      return Object.fromEntries(
        n.items.map((pair) => {
          const key = String(this.scalar(pair.key));
          return [key, this.plain(pair.value, joinPath(path, key), inner)];
        }),
      );
    }
    if (isSeq(n)) return n.items.map((item, i) => this.plain(item, `${path}[${i}]`, inner));
    return isScalar(n) ? n.value : null;
  }

  /** Visits every key of a free-form map, nested maps and lists included (an alias cycle ends the walk). */
  pairs(node: unknown, path: string, visit: (key: string, keyNode: unknown, value: unknown, path: string) => void, enclosing: ReadonlySet<unknown> = new Set()): void {
    const m = this.deref(node);
    if (enclosing.has(m)) return;
    const inner = new Set([...enclosing, m]);
    if (isMap(m)) {
      for (const pair of m.items) {
        const key = String(this.scalar(pair.key));
        const keyPath = joinPath(path, key);
        visit(key, pair.key, pair.value, keyPath);
        this.pairs(pair.value, keyPath, visit, inner);
      }
    } else if (isSeq(m)) {
      m.items.forEach((item, i) => this.pairs(item, `${path}[${i}]`, visit, inner));
    }
  }

  isSeq(node: unknown): boolean {
    return isSeq(this.deref(node));
  }

  /** True when `node` is a map; otherwise records "expected {what}". */
  isMap(node: unknown, path: string, what = 'a map'): boolean {
    const m = this.deref(node);
    if (isMap(m)) return true;
    this.error(node, path, `expected ${what}; got ${describe(m)}`);
    return false;
  }

  /** How many errors have been recorded so far. */
  errorCount(): number {
    return this.errors.length;
  }

  /** The keys of a map node (none for anything else), without checking anything. */
  keysOf(node: unknown): string[] {
    const m = this.deref(node);
    return isMap(m) ? m.items.map((pair) => String(this.scalar(pair.key))) : [];
  }

  /** Whether `node` is a map holding `key`, without checking anything. */
  hasKey(node: unknown, key: string): boolean {
    const m = this.deref(node);
    return isMap(m) && m.items.some((pair) => this.scalar(pair.key) === key);
  }

  /** The scalar value of a node, or undefined for collections. */
  scalar(node: unknown): unknown {
    const n = this.deref(node);
    return isScalar(n) ? n.value : undefined;
  }

  // --- ids and references ---

  /** Records the declaration of an id; a second declaration of the same id is an error. */
  declare(kind: DeclaredKind, id: string, node: unknown, path: string): void {
    let ids = this.declared.get(kind);
    if (ids === undefined) this.declared.set(kind, (ids = new Map()));
    const first = ids.get(id);
    if (first !== undefined) this.error(node, path, `duplicate ${kind} id "${id}" (first declared on line ${first})`);
    else ids.set(id, this.line(node));
  }

  declaredIds(kind: DeclaredKind): string[] {
    return [...(this.declared.get(kind)?.keys() ?? [])];
  }

  /** A reference to an id, checked once every declaration has been read (see checkRefs). */
  ref(kind: RefKind, id: string, node: unknown, path: string): void {
    this.refs.push({ kind, id, node, path });
  }

  /** A group that exists because a user lists it (whether or not the rest of that user is valid). */
  listGroup(id: string): void {
    this.listedGroups.add(id);
  }

  checkRefs(): void {
    const known: Record<RefKind, Set<string>> = {
      user: new Set(this.declaredIds('user')),
      group: new Set([...this.declaredIds('group'), ...this.listedGroups]),
      shift: new Set(this.declaredIds('shift')),
      integration: new Set(this.declaredIds('integration')),
      bundle: new Set(this.declaredIds('bundle')),
    };
    for (const { kind, id, node, path } of this.refs) {
      if (known[kind].has(id)) continue;
      const ids = [...known[kind]];
      const hint = suggestion(id, ids);
      const declared = ids.length === 0 ? `no ${kind} is declared` : `expected one of ${listForMessage(ids)}`;
      this.error(node, path, `unknown ${kind} "${id}"${hint === '' ? `; ${declared}` : hint}`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// The file, section by section. Sections are read in dependency order (identities,
// integrations, bundles, flows, settings) whatever their order in the file; references
// to users, groups, shifts, integrations and bundles are checked at the end, so they may
// point forward.

/** What target selectors need to know about each integration whose resource types were read. */
type ResourceTypesByIntegration = Map<string, Record<string, ResourceTypeConfig>>;

function readConfig(r: Reader, root: unknown): LapseConfig | undefined {
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) {
    r.error(root, '', 'the configuration is empty; expected a map with identities, integrations, bundles and flows');
    return undefined;
  }
  const top = r.map(root, '', ['settings?', 'identities?', 'integrations?', 'bundles?', 'flows?'], 'a map with identities, integrations, bundles and flows');
  if (top === undefined) return undefined;

  const identities = top.has('identities') ? readIdentities(r, top.get('identities'), top.at('identities')) : { users: [], groups: [], shifts: [] };
  const resourceTypes: ResourceTypesByIntegration = new Map();
  const integrations = optionalList(r, top, 'integrations', (n, p) => readIntegration(r, n, p, resourceTypes));
  const bundles = optionalList(r, top, 'bundles', (n, p) => readBundle(r, n, p, resourceTypes));
  const flows = optionalList(r, top, 'flows', (n, p) => readFlow(r, n, p, resourceTypes));
  const settings = top.has('settings') ? readSettings(r, top.get('settings'), top.at('settings')) : defaultSettings();

  r.checkRefs();
  if (settings === undefined) return undefined;

  const groups: GroupConfig[] = [...identities.groups];
  for (const id of identities.users.flatMap((u) => u.groups)) if (!groups.some((g) => g.id === id)) groups.push({ id, name: id });
  return { users: identities.users, groups, shifts: identities.shifts, integrations, bundles, flows, settings };
}

function optionalList<T>(r: Reader, fields: Fields, key: string, item: (node: unknown, path: string) => T | undefined): T[] {
  return fields.has(key) ? (r.list(fields.get(key), fields.at(key), item) ?? []) : [];
}

// --- settings ---

const DEFAULT_EXPIRY_WARNINGS = [10 * 60_000, 60_000];

function defaultSettings(): ServerSettings {
  return { admins: [], expiryWarnings: [...DEFAULT_EXPIRY_WARNINGS] };
}

function readSettings(r: Reader, node: unknown, path: string): ServerSettings | undefined {
  const f = r.map(node, path, ['admins?', 'expiryWarnings?', 'reconcileEvery?', 'healthCheckEvery?', 'trustProxy?']);
  if (f === undefined) return undefined;
  const admins = f.has('admins') ? r.list(f.get('admins'), f.at('admins'), (n, p) => userRef(r, n, p)) : [];
  const warnings = f.has('expiryWarnings') ? r.list(f.get('expiryWarnings'), f.at('expiryWarnings'), (n, p) => r.duration(n, p)) : [...DEFAULT_EXPIRY_WARNINGS];
  const reconcileEvery = f.has('reconcileEvery') ? (r.scalar(f.get('reconcileEvery')) === 'off' ? null : atLeastSeconds(r, f.get('reconcileEvery'), f.at('reconcileEvery'), ', or "off"')) : undefined;
  const healthCheckEvery = f.has('healthCheckEvery') ? atLeastSeconds(r, f.get('healthCheckEvery'), f.at('healthCheckEvery'), '') : undefined;
  if (admins === undefined || warnings === undefined) return undefined;
  const trustProxy = f.has('trustProxy') ? readTrustProxy(r, f.get('trustProxy'), f.at('trustProxy')) : undefined;
  if ((f.has('reconcileEvery') && reconcileEvery === undefined) || (f.has('healthCheckEvery') && healthCheckEvery === undefined)) return undefined;
  if (f.has('trustProxy') && trustProxy === undefined) return undefined;
  const settings: ServerSettings = { admins, expiryWarnings: [...new Set(warnings)].sort((a, b) => b - a) };
  if (reconcileEvery !== undefined) settings.reconcileEvery = reconcileEvery;
  if (healthCheckEvery !== undefined) settings.healthCheckEvery = healthCheckEvery;
  if (trustProxy !== undefined) settings.trustProxy = trustProxy;
  return settings;
}

/** `trustProxy`: true or false, a number of hops (1-16), or a list of addresses and CIDR ranges. */
function readTrustProxy(r: Reader, node: unknown, path: string): boolean | number | string[] | undefined {
  const value = r.scalar(node);
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 1 && value <= 16) return value;
    return r.error(node, path, `expected a number of proxy hops from 1 to 16; got ${value}`);
  }
  const list = r.listOrOne(node, path, (n, p) => {
    const text = r.name(n, p, 'an IP address or CIDR range, e.g. 10.0.0.5 or 10.0.0.0/8');
    if (text === undefined) return undefined;
    const problem = addressRangeProblem(text);
    return problem ? r.error(n, p, problem) : text;
  });
  if (list !== undefined && list.length === 0) return r.error(node, path, 'expected at least one address; to trust no proxy, leave trustProxy out or set it to false');
  return list;
}

/** Why `text` is not an IP address or a CIDR range (address/prefix length), or null. */
function addressRangeProblem(text: string): string | null {
  const [address, bits, ...rest] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return `expected an IP address or CIDR range, e.g. 10.0.0.5 or 10.0.0.0/8; got ${JSON.stringify(text)}`;
  if (bits === undefined) return null;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `expected a prefix length from 0 to ${max} after "/"; got ${JSON.stringify(text)}`;
  return null;
}

/** A duration of at least 10 s (a sweep or check more often than that would only load the targets). */
function atLeastSeconds(r: Reader, node: unknown, path: string, alternatives: string): number | undefined {
  const ms = r.duration(node, path);
  if (ms !== undefined && ms < 10_000) return r.error(node, path, `expected a duration of at least 10s${alternatives}; got ${JSON.stringify(r.scalar(node))}`);
  return ms;
}

/** The `id` of a user, group, shift, integration, bundle or flow; a second use of an id is an error. */
function declareId(r: Reader, f: Fields, kind: DeclaredKind): string | undefined {
  const id = f.has('id') ? r.id(f.get('id'), f.at('id')) : undefined;
  if (id !== undefined) r.declare(kind, id, f.get('id'), f.at('id'));
  return id;
}

/** An id naming a declared `kind`, checked at the end (see Reader.checkRefs). */
function idRef(r: Reader, kind: RefKind, node: unknown, path: string): string | undefined {
  const id = r.id(node, path);
  if (id !== undefined) r.ref(kind, id, node, path);
  return id;
}

function userRef(r: Reader, node: unknown, path: string): string | undefined {
  return idRef(r, 'user', node, path);
}

// --- identities ---

function readIdentities(r: Reader, node: unknown, path: string): { users: UserConfig[]; groups: GroupConfig[]; shifts: ShiftConfig[] } {
  const f = r.map(node, path, ['users?', 'groups?', 'shifts?']);
  if (f === undefined) return { users: [], groups: [], shifts: [] };
  return {
    users: optionalList(r, f, 'users', (n, p) => readUser(r, n, p)),
    groups: optionalList(r, f, 'groups', (n, p) => readGroup(r, n, p)),
    shifts: optionalList(r, f, 'shifts', (n, p) => readShift(r, n, p)),
  };
}

const EMAIL_PATTERN = /^[^@\s]+@[^@\s]+$/;

function readUser(r: Reader, node: unknown, path: string): UserConfig | undefined {
  const f = r.map(node, path, ['id', 'email', 'name?', 'groups?', 'manager?', 'attributes?', 'mfa?'], 'a user map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'user');
  let email = f.has('email') ? r.name(f.get('email'), f.at('email'), 'an email address') : undefined;
  if (email !== undefined && !EMAIL_PATTERN.test(email)) email = r.error(f.get('email'), f.at('email'), `expected an email address; got ${JSON.stringify(email)}`);
  const name = f.has('name') ? r.name(f.get('name'), f.at('name')) : id;
  // A user's groups need no declaration: listing them is what makes them exist.
  const groups = f.has('groups')
    ? r.list(f.get('groups'), f.at('groups'), (n, p) => {
        const group = r.id(n, p);
        if (group !== undefined) r.listGroup(group);
        return group;
      })
    : [];
  const manager = f.has('manager') ? userRef(r, f.get('manager'), f.at('manager')) : undefined;
  const attributes = f.has('attributes') ? readAttributes(r, f.get('attributes'), f.at('attributes')) : {};
  const mfa = f.has('mfa') ? readMfa(r, f.get('mfa'), f.at('mfa')) : undefined;
  if (id === undefined || email === undefined || name === undefined || groups === undefined || attributes === undefined) return undefined;
  if (f.has('manager') && manager === undefined) return undefined;
  if (f.has('mfa') && mfa === undefined) return undefined;
  const user: UserConfig = { id, email, name, groups: [...new Set(groups)], attributes };
  if (manager !== undefined) user.manager = manager;
  if (mfa !== undefined) user.mfa = mfa;
  return user;
}

function readAttributes(r: Reader, node: unknown, path: string): Record<string, string | string[]> | undefined {
  let ok = true;
  const attributes = r.dict(node, path, (n, p, key, keyNode) => {
    if (BUILT_IN_ATTRIBUTES.includes(key)) {
      ok = false;
      return r.error(keyNode, p, `"${key}" is a built-in attribute (${BUILT_IN_ATTRIBUTES.join(', ')}); give the custom attribute another name`);
    }
    const value = r.isSeq(n) ? r.list(n, p, (item, itemPath) => r.text(item, itemPath)) : r.text(n, p);
    if (value === undefined) ok = false;
    return value;
  });
  return ok ? attributes : undefined;
}

function readMfa(r: Reader, node: unknown, path: string): MfaConfig | undefined {
  const f = r.map(node, path, ['totpSecretEnv?', 'totpSecretFile?']);
  if (f === undefined) return undefined;
  if (!f.has('totpSecretEnv') && !f.has('totpSecretFile')) {
    return r.error(node, path, 'expected totpSecretEnv (an environment variable) or totpSecretFile (a file path) holding the base32 TOTP secret');
  }
  const mfa: MfaConfig = {};
  if (f.has('totpSecretEnv')) mfa.totpSecretEnv = r.name(f.get('totpSecretEnv'), f.at('totpSecretEnv'));
  if (f.has('totpSecretFile')) mfa.totpSecretFile = r.name(f.get('totpSecretFile'), f.at('totpSecretFile'));
  if ((f.has('totpSecretEnv') && mfa.totpSecretEnv === undefined) || (f.has('totpSecretFile') && mfa.totpSecretFile === undefined)) return undefined;
  return mfa;
}

function readGroup(r: Reader, node: unknown, path: string): GroupConfig | undefined {
  const f = r.map(node, path, ['id', 'name?'], 'a group map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'group');
  const name = f.has('name') ? r.name(f.get('name'), f.at('name')) : id;
  return id === undefined || name === undefined ? undefined : { id, name };
}

function readShift(r: Reader, node: unknown, path: string): ShiftConfig | undefined {
  const f = r.map(node, path, ['id', 'timezone', 'rotation', 'handoff', 'members', 'anchor'], 'a shift map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'shift');
  const timezone = f.has('timezone') ? r.timeZone(f.get('timezone'), f.at('timezone')) : undefined;
  const rotation = f.has('rotation') ? r.oneOf(f.get('rotation'), f.at('rotation'), ['daily', 'weekly'] as const) : undefined;
  const handoff = f.has('handoff') ? r.timeOfDay(f.get('handoff'), f.at('handoff')) : undefined;
  const members = f.has('members') ? r.list(f.get('members'), f.at('members'), (n, p) => userRef(r, n, p), { nonEmpty: true }) : undefined;
  const anchor = f.has('anchor') ? r.date(f.get('anchor'), f.at('anchor')) : undefined;
  if (id === undefined || timezone === undefined || rotation === undefined || handoff === undefined || members === undefined || anchor === undefined) return undefined;
  return { id, timezone, rotation, handoff, members, anchor };
}

// --- integrations ---

function readOwner(r: Reader, node: unknown, path: string): OwnerRef | undefined {
  const expected = 'expected { user: <user id> } or { group: <group id> }';
  const f = r.map(node, path, ['user?', 'group?'], `an owner, { user: <id> } or { group: <id> }`);
  if (f === undefined) return undefined;
  if (f.has('user') === f.has('group')) return r.error(node, path, `${expected}, exactly one of them`);
  if (f.has('user')) {
    const user = userRef(r, f.get('user'), f.at('user'));
    return user === undefined ? undefined : { user };
  }
  const group = idRef(r, 'group', f.get('group'), f.at('group'));
  return group === undefined ? undefined : { group };
}

/** Last words of a connection key that name a secret: `password`, `adminPassword`, `api_key`, `apiKey`, `APIKey`. */
export const SECRET_WORDS = ['password', 'passwd', 'secret', 'token', 'key', 'apikey', 'authorization'];
/** A URL with a password in it: scheme://user:password@host. */
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:[^/@\s]+@/i;

function secretWord(key: string): string | undefined {
  const words = key.split(/[_\-\s]+|(?<=[a-z0-9])(?=[A-Z])/).filter((w) => w !== '');
  const last = words.at(-1)?.toLowerCase();
  return last !== undefined && SECRET_WORDS.includes(last) ? last : undefined;
}

/** Refuses secrets written inline anywhere inside `connection`. */
function checkNoInlineSecrets(r: Reader, node: unknown, path: string): boolean {
  let ok = true;
  r.pairs(node, path, (key, keyNode, value, keyPath) => {
    if (secretWord(key) !== undefined) {
      ok = false;
      r.error(keyNode, keyPath, `"${key}" would hold a secret inline; give it by reference instead: ${key}Env (an environment variable) or ${key}File (a file path)`);
      return;
    }
    const text = r.scalar(value);
    if (typeof text === 'string' && URL_WITH_PASSWORD.test(text)) {
      ok = false;
      r.error(value, keyPath, 'the URL holds a password inline; leave it out of the URL and give it by reference (passwordEnv or passwordFile)');
    }
  });
  return ok;
}

function readResourceTypes(r: Reader, node: unknown, path: string): Record<string, ResourceTypeConfig> | undefined {
  let ok = true;
  const types = r.dict(node, path, (n, p) => {
    const f = r.map(n, p, ['permissions'], 'a resource type, { permissions: [...] }');
    const permissions = f?.has('permissions') ? r.list(f.get('permissions'), f.at('permissions'), (item, itemPath) => r.name(item, itemPath), { nonEmpty: true }) : undefined;
    if (permissions === undefined) ok = false;
    return permissions === undefined ? undefined : { permissions: [...new Set(permissions)] };
  });
  return ok ? types : undefined;
}

/** A resource type name; when the integration's types are known, one of them. */
function resourceType(
  r: Reader,
  node: unknown,
  path: string,
  integration: string,
  types: Record<string, ResourceTypeConfig> | undefined,
): string | undefined {
  const type = r.name(node, path, 'a resource type');
  if (type === undefined || types === undefined || Object.hasOwn(types, type)) return type;
  const names = Object.keys(types);
  const expected = names.length === 0 ? 'it declares no resource types' : `expected one of ${names.join(', ')}`;
  return r.error(node, path, `unknown resource type "${type}" for integration "${integration}"; ${expected}`);
}

function defaultResourceTypes(type: IntegrationConfig['type']): Record<string, ResourceTypeConfig> {
  return Object.fromEntries(Object.entries(DEFAULT_RESOURCE_TYPES[type]).map(([name, t]) => [name, { permissions: [...t.permissions] }]));
}

function readIntegration(r: Reader, node: unknown, path: string, known: ResourceTypesByIntegration): IntegrationConfig | undefined {
  const f = r.map(node, path, ['id', 'type', 'name?', 'owner?', 'connection?', 'resourceTypes?', 'resources?'], 'an integration map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'integration');
  const type = f.has('type') ? r.oneOf(f.get('type'), f.at('type'), INTEGRATION_TYPES) : undefined;
  const name = f.has('name') ? r.name(f.get('name'), f.at('name')) : id;
  const owner = f.has('owner') ? readOwner(r, f.get('owner'), f.at('owner')) : undefined;

  let resourceTypes: Record<string, ResourceTypeConfig> | undefined;
  if (f.has('resourceTypes')) resourceTypes = readResourceTypes(r, f.get('resourceTypes'), f.at('resourceTypes'));
  else if (type !== undefined) resourceTypes = defaultResourceTypes(type);

  let connection: Record<string, unknown> | undefined = {};
  if (f.has('connection')) {
    const c = f.get('connection');
    if (!r.isMap(c, f.at('connection'))) connection = undefined;
    else if (!checkNoInlineSecrets(r, c, f.at('connection'))) connection = undefined;
    else {
      const before = r.errorCount();
      connection = r.plain(c, f.at('connection')) as Record<string, unknown>;
      if (r.errorCount() > before) connection = undefined;
      else if (type !== undefined && !checkConnection(r, type, c, f.at('connection'), resourceTypes)) connection = undefined;
    }
  } else if (type !== undefined && requiredConnectionKeys(type).length > 0) {
    connection = r.error(node, path, `missing required key "connection": a ${type} integration needs ${requiredConnectionKeys(type).join(', ')}`);
  }
  if (id !== undefined && resourceTypes !== undefined) known.set(id, resourceTypes);

  const resources = f.has('resources')
    ? readResources(r, f.get('resources'), f.at('resources'), id ?? '?', resourceTypes, type === undefined ? undefined : resourceNameProblem(type))
    : [];

  if (id === undefined || type === undefined || name === undefined || connection === undefined || resourceTypes === undefined || resources === undefined) return undefined;
  if (f.has('owner') && owner === undefined) return undefined;
  const integration: IntegrationConfig = { id, type, name, connection, resourceTypes, resources };
  if (owner !== undefined) integration.owner = owner;
  return integration;
}

function readResources(
  r: Reader,
  node: unknown,
  path: string,
  integration: string,
  types: Record<string, ResourceTypeConfig> | undefined,
  /** What is wrong with a resource name for this integration type, if anything. */
  nameProblem?: (name: string) => string | undefined,
): ResourceConfig[] | undefined {
  const seen = new Set<string>();
  /** Every path written, even of resources with other mistakes, so that their children are not blamed too. */
  const paths = new Set<string>();
  const parents: Array<{ parent: string; node: unknown; path: string }> = [];
  const resources = r.list(node, path, (n, p) => {
    const f = r.map(n, p, ['type', 'name', 'parent?', 'tags?', 'owner?'], 'a resource map');
    if (f === undefined) return undefined;
    const type = f.has('type') ? resourceType(r, f.get('type'), f.at('type'), integration, types) : undefined;
    let name = f.has('name') ? r.name(f.get('name'), f.at('name'), 'a resource name') : undefined;
    if (name?.includes('/')) name = r.error(f.get('name'), f.at('name'), `expected a resource name without "/" (use parent for the path); got ${JSON.stringify(name)}`);
    const problem = name === undefined ? undefined : nameProblem?.(name);
    if (problem !== undefined) name = r.error(f.get('name'), f.at('name'), problem);
    const parent = f.has('parent') ? r.name(f.get('parent'), f.at('parent'), 'the path of a declared resource') : undefined;
    if (parent !== undefined) parents.push({ parent, node: f.get('parent'), path: f.at('parent') });
    const tags = f.has('tags') ? r.dict(f.get('tags'), f.at('tags'), (tn, tp) => r.text(tn, tp)) : {};
    const owner = f.has('owner') ? readOwner(r, f.get('owner'), f.at('owner')) : undefined;
    if (name !== undefined && !(f.has('parent') && parent === undefined)) paths.add(parent === undefined ? name : `${parent}/${name}`);
    if (type === undefined || name === undefined || tags === undefined) return undefined;
    if ((f.has('parent') && parent === undefined) || (f.has('owner') && owner === undefined)) return undefined;
    const resourcePath = parent === undefined ? name : `${parent}/${name}`;
    const key = `${type}\u0000${resourcePath}`;
    if (seen.has(key)) return r.error(f.get('name'), f.at('name'), `duplicate resource: integration "${integration}" already declares the ${type} "${resourcePath}"`);
    seen.add(key);
    const resource: ResourceConfig = { type, name, tags };
    if (parent !== undefined) resource.parent = parent;
    if (owner !== undefined) resource.owner = owner;
    return resource;
  });
  if (resources === undefined) return undefined;
  let ok = true;
  for (const { parent, node: parentNode, path: parentPath } of parents) {
    if (paths.has(parent)) continue;
    ok = false;
    r.error(parentNode, parentPath, `parent "${parent}" is not a declared resource of integration "${integration}"${suggestion(parent, paths) || `; declared: ${listForMessage([...paths]) || 'none'}`}`);
  }
  return ok ? resources : undefined;
}

// --- target selectors and bundles ---

function readScope(r: Reader, node: unknown, path: string): ResourceScope | undefined {
  const expected = 'expected any, { except: [names] }, { names: [names] }, { tags: { key: value } } or { parents: [paths] }';
  if (r.scalar(node) === 'any') return { kind: 'any' };
  if (r.scalar(node) !== undefined || r.isSeq(node)) return r.error(node, path, `${expected}; got ${describe(node)}`);
  const f = r.map(node, path, ['except?', 'names?', 'tags?', 'parents?']);
  if (f === undefined) return undefined;
  const given = ['except', 'names', 'tags', 'parents'].filter((k) => f.has(k));
  if (given.length !== 1) return r.error(node, path, `${expected}: exactly one of them; got ${given.length === 0 ? 'none' : given.join(' and ')}`);
  const names = (key: string) => r.list(f.get(key), f.at(key), (n, p) => r.name(n, p), { nonEmpty: true });
  switch (given[0]) {
    case 'except': {
      const list = names('except');
      return list && { kind: 'anyExcept', names: list };
    }
    case 'names': {
      const list = names('names');
      return list && { kind: 'names', names: list };
    }
    case 'parents': {
      const list = names('parents');
      return list && { kind: 'parents', parents: list };
    }
    default: {
      const tags = r.dict(f.get('tags'), f.at('tags'), (n, p) => r.text(n, p));
      if (tags !== undefined && Object.keys(tags).length === 0) return r.error(f.get('tags'), f.at('tags'), 'expected at least one tag; got an empty map');
      return tags && { kind: 'tags', tags };
    }
  }
}

function readSelector(r: Reader, node: unknown, path: string, known: ResourceTypesByIntegration, what = 'a target selector map'): TargetSelector | undefined {
  const f = r.map(node, path, ['integration', 'resourceType', 'resources', 'permissions'], what);
  if (f === undefined) return undefined;
  const integration = f.has('integration') ? idRef(r, 'integration', f.get('integration'), f.at('integration')) : undefined;
  const types = integration === undefined ? undefined : known.get(integration);

  const type = f.has('resourceType') ? resourceType(r, f.get('resourceType'), f.at('resourceType'), integration ?? '?', types) : undefined;
  const allowed = type === undefined ? undefined : types?.[type]?.permissions;
  const permissions = f.has('permissions')
    ? r.list(f.get('permissions'), f.at('permissions'), (n, p) => {
        const permission = r.name(n, p, 'a permission');
        if (permission === undefined || allowed === undefined || allowed.includes(permission)) return permission;
        return r.error(n, p, `unknown permission "${permission}" for ${type} in integration "${integration}"; expected one of ${allowed.join(', ')}`);
      }, { nonEmpty: true })
    : undefined;
  const resources = f.has('resources') ? readScope(r, f.get('resources'), f.at('resources')) : undefined;
  if (integration === undefined || type === undefined || permissions === undefined || resources === undefined) return undefined;
  return { integration, resourceType: type, permissions: [...new Set(permissions)], resources };
}

function readBundle(r: Reader, node: unknown, path: string, known: ResourceTypesByIntegration): BundleConfig | undefined {
  const f = r.map(node, path, ['id', 'name?', 'targets'], 'a bundle map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'bundle');
  const name = f.has('name') ? r.name(f.get('name'), f.at('name')) : id;
  const targets = f.has('targets') ? r.list(f.get('targets'), f.at('targets'), (n, p) => readSelector(r, n, p, known), { nonEmpty: true }) : undefined;
  if (id === undefined || name === undefined || targets === undefined) return undefined;
  return { id, name, targets };
}

// --- conditions ---

/** Attributes whose values name declared things, checked when the op compares whole values. */
const REFERENCE_ATTRIBUTES = new Map<string, RefKind>([
  ['user', 'user'],
  ['manager', 'user'],
  ['group', 'group'],
  ['shift', 'shift'],
]);
/** Attributes that, for approvers, may stand alone: the requester's manager, the owner. */
const VALUELESS_ATTRIBUTES = ['manager', 'owner'];

type ConditionRole = 'requesters' | 'approvers';

function readCondition(r: Reader, node: unknown, path: string, role: ConditionRole): Condition | undefined {
  const f = r.map(node, path, ['attribute', 'op?', 'value?'], 'a condition, { attribute, op, value }');
  if (f === undefined) return undefined;
  const attribute = f.has('attribute') ? r.name(f.get('attribute'), f.at('attribute'), 'an attribute name') : undefined;
  const op = f.has('op') ? r.oneOf(f.get('op'), f.at('op'), CONDITION_OPS) : 'is';
  if (attribute === undefined || op === undefined) return undefined;

  if (!f.has('value')) {
    if (!VALUELESS_ATTRIBUTES.includes(attribute)) {
      return r.error(node, path, `missing required key "value" (only manager and owner conditions of approvers may omit it)`);
    }
    if (role === 'requesters') {
      return r.error(node, path, `a ${attribute} condition without a value means "the requester's ${attribute === 'owner' ? 'resource owner' : 'manager'}", which only approvers can be; give a value`);
    }
    return { attribute, op, value: [] };
  }

  const kind = op === 'is' || op === 'is not' ? REFERENCE_ATTRIBUTES.get(attribute) : undefined;
  const value = r.listOrOne(f.get('value'), f.at('value'), (n, p) => {
    const text = r.text(n, p);
    if (text !== undefined && kind !== undefined) r.ref(kind, text, n, p);
    return text;
  });
  if (value === undefined) return undefined;
  if (value.length === 0 && !VALUELESS_ATTRIBUTES.includes(attribute)) return r.error(f.get('value'), f.at('value'), 'expected at least one value; got an empty list');
  return { attribute, op, value };
}

function readConditionGroup(r: Reader, node: unknown, path: string, role: ConditionRole): ConditionGroup | undefined {
  const f = r.map(node, path, ['match?', 'conditions'], 'a condition group, { match, conditions }');
  if (f === undefined) return undefined;
  const match = f.has('match') ? r.oneOf(f.get('match'), f.at('match'), ['all', 'any'] as const) : 'all';
  const conditions = f.has('conditions')
    ? r.list(f.get('conditions'), f.at('conditions'), (n, p) => readCondition(r, n, p, role), { nonEmpty: role === 'approvers' })
    : undefined;
  if (match === undefined || conditions === undefined) return undefined;
  return { match, conditions };
}

// --- flows ---

const DEFAULT_GRANT_FOR = 60 * 60_000;

/** The default requesters: no condition, so everyone (a fresh object each time: configs share nothing). */
function everyone(): ConditionGroup {
  return { match: 'all', conditions: [] };
}

function readApproval(r: Reader, node: unknown, path: string): ApprovalPolicy | undefined {
  if (r.scalar(node) === 'automatic') return { mode: 'automatic' };
  if (r.scalar(node) !== undefined || r.isSeq(node)) {
    return r.error(node, path, `expected automatic or { mode: anyOf | allOf, groups: [...] }; got ${describe(node)}`);
  }
  const f = r.map(node, path, ['mode', 'groups?']);
  if (f === undefined || !f.has('mode')) return undefined;
  const mode = r.oneOf(f.get('mode'), f.at('mode'), ['anyOf', 'allOf', 'automatic'] as const);
  if (mode === 'automatic') {
    if (f.has('groups')) return r.error(f.get('groups'), f.at('groups'), 'automatic approval takes no approver groups');
    return { mode };
  }
  if (!f.has('groups')) return r.error(node, path, `missing required key "groups" (approver groups for mode ${mode ?? 'anyOf or allOf'})`);
  const groups = r.list(f.get('groups'), f.at('groups'), (n, p) => readConditionGroup(r, n, p, 'approvers'), { nonEmpty: true });
  if (mode === undefined || groups === undefined) return undefined;
  return { mode, groups };
}

function readWindow(r: Reader, node: unknown, path: string): TimeWindow | undefined {
  const f = r.map(node, path, ['days', 'from', 'to', 'timezone'], 'a time window, { days, from, to, timezone }');
  if (f === undefined) return undefined;
  const days = f.has('days') ? r.list(f.get('days'), f.at('days'), (n, p) => r.oneOf(n, p, WEEKDAYS), { nonEmpty: true }) : undefined;
  const from = f.has('from') ? r.timeOfDay(f.get('from'), f.at('from')) : undefined;
  const to = f.has('to') ? r.timeOfDay(f.get('to'), f.at('to')) : undefined;
  const timezone = f.has('timezone') ? r.timeZone(f.get('timezone'), f.at('timezone')) : undefined;
  if (days === undefined || from === undefined || to === undefined || timezone === undefined) return undefined;
  // In week order, once each.
  return { days: WEEKDAYS.filter((d) => days.includes(d)), from, to, timezone };
}

function readFlowSettings(r: Reader, node: unknown, path: string): FlowSettings | undefined {
  const flags = ['requireJustification', 'requireApproverReason', 'requesterCannotApproveOwn', 'requireMfa', 'breakGlass'] as const;
  const f = r.map(node, path, [...flags.map((k) => `${k}?`), 'labels?', 'maxExtensions?']);
  if (f === undefined) return undefined;
  const settings: FlowSettings = { ...DEFAULT_FLOW_SETTINGS, labels: [] };
  let ok = true;
  for (const flag of flags) {
    if (!f.has(flag)) continue;
    const value = r.bool(f.get(flag), f.at(flag));
    if (value === undefined) ok = false;
    else settings[flag] = value;
  }
  if (f.has('labels')) {
    const labels = r.list(f.get('labels'), f.at('labels'), (n, p) => r.name(n, p, 'a label'));
    if (labels === undefined) ok = false;
    else settings.labels = [...new Set(labels)];
  }
  if (f.has('maxExtensions')) {
    const max = r.int(f.get('maxExtensions'), f.at('maxExtensions'), 0);
    if (max === undefined) ok = false;
    else settings.maxExtensions = max;
  }
  return ok ? settings : undefined;
}

function readFlowTarget(r: Reader, node: unknown, path: string, known: ResourceTypesByIntegration): FlowTarget | undefined {
  if (!r.hasKey(node, 'bundle')) {
    const selector = readSelector(r, node, path, known, 'a target: a selector map or { bundle: <id> }');
    return selector && { selector };
  }
  const f = r.map(node, path, ['bundle'], 'a bundle target, { bundle: <id> }');
  const bundle = f?.has('bundle') ? idRef(r, 'bundle', f.get('bundle'), f.at('bundle')) : undefined;
  return bundle === undefined ? undefined : { bundle };
}

function readFlow(r: Reader, node: unknown, path: string, known: ResourceTypesByIntegration): FlowConfig | undefined {
  const f = r.map(node, path, ['id', 'name?', 'description?', 'kind?', 'requesters?', 'when?', 'targets', 'grantFor?', 'maxDuration?', 'approval?', 'settings?'], 'a flow map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'flow');
  const name = f.has('name') ? r.name(f.get('name'), f.at('name')) : id;
  const description = f.has('description') ? r.str(f.get('description'), f.at('description')) : '';
  const kind = f.has('kind') ? r.oneOf(f.get('kind'), f.at('kind'), ['self-serve', 'automatic'] as const) : 'self-serve';
  const requesters = f.has('requesters') ? readConditionGroup(r, f.get('requesters'), f.at('requesters'), 'requesters') : everyone();
  const when = f.has('when') ? readWindow(r, f.get('when'), f.at('when')) : undefined;
  const targets = f.has('targets') ? r.list(f.get('targets'), f.at('targets'), (n, p) => readFlowTarget(r, n, p, known), { nonEmpty: true }) : undefined;
  const settings = f.has('settings') ? readFlowSettings(r, f.get('settings'), f.at('settings')) : { ...DEFAULT_FLOW_SETTINGS, labels: [] };
  const timing = kind === undefined ? undefined : kind === 'automatic' ? readAutomaticTiming(r, f) : readSelfServeTiming(r, f);
  let requestersOk = requesters !== undefined;
  if (kind === 'automatic' && requesters !== undefined && requesters.conditions.length === 0) {
    requestersOk = false;
    r.error(f.get('requesters') ?? node, f.has('requesters') ? f.at('requesters') : path, 'an automatic flow needs at least one requester condition: the access is held by whoever meets them, while they do');
  }

  if (id === undefined || name === undefined || description === undefined || kind === undefined || requesters === undefined || !requestersOk) return undefined;
  if (targets === undefined || settings === undefined || timing === undefined) return undefined;
  if (f.has('when') && when === undefined) return undefined;
  const flow: FlowConfig = { id, name, description, kind, requesters, targets, ...timing, settings };
  if (when !== undefined) flow.when = when;
  return flow;
}

type FlowTiming = Pick<FlowConfig, 'grantFor' | 'maxDuration' | 'approval'>;

function readSelfServeTiming(r: Reader, f: Fields): FlowTiming | undefined {
  const grantFor = f.has('grantFor') ? r.duration(f.get('grantFor'), f.at('grantFor'), { indefinite: true }) : DEFAULT_GRANT_FOR;
  const maxDuration = f.has('maxDuration') ? r.duration(f.get('maxDuration'), f.at('maxDuration'), { indefinite: true }) : grantFor;
  let approval: ApprovalPolicy | undefined;
  if (f.has('approval')) approval = readApproval(r, f.get('approval'), f.at('approval'));
  else r.error(f.node, f.path, 'missing required key "approval" (automatic, or { mode: anyOf | allOf, groups: [...] })');
  if (grantFor === undefined || maxDuration === undefined || approval === undefined) return undefined;
  if (maxDuration !== null && (grantFor === null || grantFor > maxDuration)) {
    // Blame grantFor when it is written; a default grantFor is blamed on the maxDuration below it.
    const key = f.has('grantFor') ? 'grantFor' : 'maxDuration';
    const shown = grantFor === null ? 'indefinite' : formatDuration(grantFor);
    return r.error(f.get(key), f.at(key), `grantFor (${shown}${f.has('grantFor') ? '' : ', the default'}) is longer than maxDuration (${formatDuration(maxDuration)})`);
  }
  return { grantFor, maxDuration, approval };
}

/** An automatic flow holds its access while the requester conditions hold: nothing to approve, no duration. */
function readAutomaticTiming(r: Reader, f: Fields): FlowTiming | undefined {
  let ok = true;
  if (f.has('approval') && r.scalar(f.get('approval')) !== 'automatic') {
    ok = false;
    r.error(f.get('approval'), f.at('approval'), 'an automatic flow grants while its requester conditions hold; approval must be automatic or omitted');
  }
  for (const key of ['grantFor', 'maxDuration']) {
    if (f.has(key) && r.scalar(f.get(key)) !== 'indefinite') {
      ok = false;
      r.error(f.get(key), f.at(key), `an automatic flow holds access while its requester conditions hold; ${key} must be indefinite or omitted`);
    }
  }
  return ok ? { grantFor: null, maxDuration: null, approval: { mode: 'automatic' } } : undefined;
}
