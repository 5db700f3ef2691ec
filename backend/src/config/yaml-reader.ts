// The YAML reader with positions: Reader walks a parsed document and records every error at
// its node's file:line:column with the path inside the document; Fields holds the checked
// keys of one map. Also the error type, its formatting, and the id and reference helpers.

import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Scalar, type YAMLMap } from 'yaml';
import { parseDuration } from '../../../common/duration.ts';
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

/** One error a line: `file:line:column: path: message` (no path part for the document itself). */
export function formatConfigErrors(errors: ConfigError[]): string {
  return errors
    .map((e) => `${e.file}:${e.line}:${e.column}: ${e.path === '' ? '' : `${e.path}: `}${e.message}`)
    .join('\n');
}

// ---------------------------------------------------------------------------------------
// The walker: helpers that read one YAML node each, record an error with the node's
// position when it is not what was expected, and return undefined in that case.

export type DeclaredKind = 'user' | 'group' | 'shift' | 'integration' | 'bundle' | 'flow';
/** Kinds a reference may point at; groups also exist by being listed by a user. */
export type RefKind = 'user' | 'group' | 'shift' | 'integration' | 'bundle';

/** What an id of a user, group, shift, integration, bundle or flow may look like (shared with the JSON Schema). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;

function joinPath(path: string, key: string): string {
  const part = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  if (path === '') return part.startsWith('"') ? `[${part}]` : part;
  return part.startsWith('"') ? `${path}[${part}]` : `${path}.${part}`;
}

/** What a node holds, for "got …" in messages. */
export function describe(node: unknown): string {
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
export function suggestion(got: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(got.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(got.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

export function listForMessage(items: string[]): string {
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

// --- lists, ids and references, for the section readers ---

/** The list under an optional `key`; [] when the key is absent or does not hold a list. */
export function optionalList<T>(r: Reader, fields: Fields, key: string, item: (node: unknown, path: string) => T | undefined): T[] {
  return fields.has(key) ? (r.list(fields.get(key), fields.at(key), item) ?? []) : [];
}

/** The `id` of a user, group, shift, integration, bundle or flow; a second use of an id is an error. */
export function declareId(r: Reader, f: Fields, kind: DeclaredKind): string | undefined {
  const id = f.has('id') ? r.id(f.get('id'), f.at('id')) : undefined;
  if (id !== undefined) r.declare(kind, id, f.get('id'), f.at('id'));
  return id;
}

/** An id naming a declared `kind`, checked at the end (see Reader.checkRefs). */
export function idRef(r: Reader, kind: RefKind, node: unknown, path: string): string | undefined {
  const id = r.id(node, path);
  if (id !== undefined) r.ref(kind, id, node, path);
  return id;
}

export function userRef(r: Reader, node: unknown, path: string): string | undefined {
  return idRef(r, 'user', node, path);
}
