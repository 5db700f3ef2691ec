// The inventory's rules, free of I/O: tags read from an object's comment on the target (a
// `lapse:` line of key=value pairs), tag rules of the configuration (by path pattern or
// parent), and how what a discovery found becomes the resources the catalog offers.

import type { ResourceConfig, TagRule } from './config.ts';

export type { TagRule };

/** A resource as a discovery reports it: its comment on the target, if any, is read for tags. */
export interface FoundResource {
  type: string;
  name: string;
  parent?: string;
  tags: Record<string, string>;
  comment?: string | null;
}

/** A resource of the inventory: where it came from and when discovery first and last saw it. */
export interface InventoryResource extends ResourceConfig {
  origin: 'declared' | 'discovered';
}

/** A resource as a sync writes it to the inventory (store/store.ts NewInventoryRow). */
export interface InventoryEntry {
  type: string;
  /** parent/name, or name alone. */
  path: string;
  name: string;
  parent: string | null;
  tags: Record<string, string>;
  origin: 'declared' | 'discovered';
}

export const TAG_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_TAG_VALUE = 256;

/**
 * The tags of a comment's `lapse:` lines: a line that starts (after blanks) with `lapse:` holds
 * `key=value` pairs separated by blanks; a value with blanks is written in double quotes, in
 * which `\"` and `\\` stand for `"` and `\`. Every other line of the comment is left alone. A
 * line that does not read is ignored whole, with a warning naming what is wrong; later lines
 * win over earlier ones for the same key.
 */
export function parseCommentTags(comment: string | null | undefined): { tags: Record<string, string>; warnings: string[] } {
  const tags: Record<string, string> = {};
  const warnings: string[] = [];
  if (!comment) return { tags, warnings };
  const lines = comment.split(/\r?\n/);
  lines.forEach((line, index) => {
    const m = /^\s*lapse:(.*)$/.exec(line);
    if (!m) return;
    const parsed = parseTagLine(m[1]!);
    if (typeof parsed === 'string') warnings.push(`line ${index + 1} of the comment ("${clip(line)}"): ${parsed}; the line is ignored`);
    else Object.assign(tags, parsed);
  });
  return { tags, warnings };
}

/** The pairs of one `lapse:` line, or what is wrong with it. */
function parseTagLine(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  let i = 0;
  const blank = (c: string | undefined) => c === ' ' || c === '\t';
  let pairs = 0;
  for (;;) {
    while (blank(text[i])) i++;
    if (i >= text.length) break;
    const keyStart = i;
    while (i < text.length && text[i] !== '=' && !blank(text[i])) i++;
    const key = text.slice(keyStart, i);
    if (text[i] !== '=') return `expected key=value, got "${clip(key)}"`;
    if (!TAG_KEY.test(key)) return `"${clip(key)}" is not a tag key (letters, digits, "_", "." and "-", at most 64)`;
    i++;
    let value = '';
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) { value += text[i + 1]; i += 2; continue; }
        if (c === '"') { closed = true; i++; break; }
        value += c;
        i++;
      }
      if (!closed) return `the quoted value of "${key}" has no closing quote`;
      if (i < text.length && !blank(text[i])) return `expected a blank after the quoted value of "${key}"`;
    } else {
      const start = i;
      while (i < text.length && !blank(text[i])) i++;
      value = text.slice(start, i);
      if (value.includes('"')) return `the value of "${key}" has a quote inside it; quote the whole value`;
    }
    if (value.length > MAX_TAG_VALUE) return `the value of "${key}" is longer than ${MAX_TAG_VALUE} characters`;
    if (/[\u0000-\u001f\u007f]/.test(value)) return `the value of "${key}" holds a control character`;
    out[key] = value;
    pairs++;
  }
  if (pairs === 0) return 'no key=value pairs after "lapse:"';
  return out;
}

function clip(text: string): string {
  const shown = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return shown.length > 60 ? `${shown.slice(0, 57)}...` : shown;
}

/** What is wrong with a tag rule's path pattern, or null. */
export function pathPatternProblem(pattern: string): string | null {
  if (pattern === '' || pattern.startsWith('/') || pattern.endsWith('/') || pattern.includes('//')) return `expected a resource path pattern such as "app/public/*"; got ${JSON.stringify(pattern)}`;
  if (/\*{3,}/.test(pattern)) return `"***" means nothing more than "**"; got ${JSON.stringify(pattern)}`;
  return null;
}

const patternCache = new Map<string, RegExp>();

/** Whether `path` matches a pattern (`*`: within a segment, `**`: across segments). */
export function pathMatches(pattern: string, path: string): boolean {
  let re = patternCache.get(pattern);
  if (!re) {
    const body = pattern.split(/(\*\*|\*)/).map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))).join('');
    re = new RegExp(`^${body}$`, 's');
    if (patternCache.size > 1000) patternCache.clear();
    patternCache.set(pattern, re);
  }
  return re.test(path);
}

export function ruleMatches(rule: TagRule, r: { type: string; name: string; parent?: string }): boolean {
  if (rule.type !== undefined && rule.type !== r.type) return false;
  const path = r.parent ? `${r.parent}/${r.name}` : r.name;
  if (rule.path !== undefined && !pathMatches(rule.path, path)) return false;
  if (rule.parent !== undefined && !(r.parent !== undefined && (r.parent === rule.parent || r.parent.startsWith(`${rule.parent}/`)))) return false;
  return true;
}

/**
 * The tags of a found resource: those of the matching rules (in order, a later rule winning),
 * then those the integration reported, then those of its comment (the object's own word is
 * the most specific). Declared resources are not passed here: they keep their own tags.
 */
export function tagsOf(found: FoundResource, rules: readonly TagRule[]): { tags: Record<string, string>; warnings: string[] } {
  const tags: Record<string, string> = {};
  for (const rule of rules) if (ruleMatches(rule, found)) Object.assign(tags, rule.tags);
  Object.assign(tags, found.tags);
  const fromComment = parseCommentTags(found.comment);
  Object.assign(tags, fromComment.tags);
  return { tags, warnings: fromComment.warnings };
}

/** The key of a resource in an integration: its type and path. */
export function resourceKey(r: { type: string; name: string; parent?: string }): string {
  return `${r.type}\u0000${r.parent ? `${r.parent}/${r.name}` : r.name}`;
}

/**
 * What the catalog offers of one integration: the declared resources (as declared: their tags
 * and owners win) and then the discovered ones no declaration names.
 */
export function mergeResources(declared: readonly ResourceConfig[], discovered: readonly ResourceConfig[]): InventoryResource[] {
  const out: InventoryResource[] = declared.map((r) => ({ ...r, origin: 'declared' as const }));
  const seen = new Set(declared.map(resourceKey));
  for (const r of discovered) {
    const k = resourceKey(r);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ ...r, origin: 'discovered' });
  }
  return out;
}

/** Names that cannot be offered: empty, or holding a control character (they could not be shown or typed). */
export function unofferableName(name: string): string | undefined {
  if (name === '') return 'its name is empty';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'its name holds a control character';
  return undefined;
}

/**
 * What a sync writes: every resource found (a declared one as declared, the others tagged by
 * the rules and their comment) and every declared resource it did not find, with warnings for
 * what is left out (`nameProblem`: what the integration type cannot take in a name) and for
 * comments whose `lapse:` line was ignored.
 */
export function inventoryEntries(
  found: readonly FoundResource[],
  declared: readonly ResourceConfig[],
  rules: readonly TagRule[],
  nameProblem?: (name: string) => string | undefined,
): { entries: InventoryEntry[]; warnings: string[] } {
  const byKey = new Map(declared.map((r) => [resourceKey(r), r]));
  const warnings: string[] = [];
  const entries = new Map<string, InventoryEntry>();
  for (const f of found) {
    const path = f.parent ? `${f.parent}/${f.name}` : f.name;
    const problem = unofferableName(f.name) ?? nameProblem?.(f.name);
    if (problem) {
      warnings.push(`${f.type} ${JSON.stringify(path)} is not offered: ${problem}`);
      continue;
    }
    const key = resourceKey(f);
    const d = byKey.get(key);
    if (d) {
      entries.set(key, { type: f.type, path, name: f.name, parent: f.parent ?? null, tags: d.tags, origin: 'declared' });
      continue;
    }
    const tagged = tagsOf(f, rules);
    for (const w of tagged.warnings) warnings.push(`${f.type} ${JSON.stringify(path)}: ${w}`);
    entries.set(key, { type: f.type, path, name: f.name, parent: f.parent ?? null, tags: tagged.tags, origin: 'discovered' });
  }
  for (const [key, d] of byKey) {
    if (!entries.has(key)) entries.set(key, { type: d.type, path: d.parent ? `${d.parent}/${d.name}` : d.name, name: d.name, parent: d.parent ?? null, tags: d.tags, origin: 'declared' });
  }
  return { entries: [...entries.values()], warnings };
}

/** How a sync's entries differ from the inventory before it: added, removed, and whether anything changed (tags and origin too). */
export function inventoryChanges(before: readonly InventoryEntry[], after: readonly InventoryEntry[]): { added: number; removed: number; changed: boolean } {
  const old = new Map(before.map((r) => [`${r.type}\u0000${r.path}`, r]));
  let added = 0;
  let changed = false;
  for (const r of after) {
    const o = old.get(`${r.type}\u0000${r.path}`);
    if (!o) added++;
    if (!o || o.origin !== r.origin || !sameTags(o.tags, r.tags)) changed = true;
  }
  const removed = before.length - (after.length - added);
  return { added, removed, changed: changed || removed > 0 };
}

function sameTags(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
