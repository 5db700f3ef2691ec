// Human output for the command line.

import type { Entitlement } from '../domain/request.ts';
import type { AccessRequest } from '../../../common/api/types.ts';

/** "demo/database:app#read" → an entitlement (the resource may contain slashes). */
export function parseEntitlement(text: string): Entitlement {
  const m = /^([^/]+)\/([^:]+):(.+)#([^#]+)$/.exec(text);
  if (!m) throw new Error(`expected INTEGRATION/TYPE:RESOURCE#PERMISSION (e.g. demo/database:app#read), got "${text}"`);
  return { integration: m[1]!, resourceType: m[2]!, resource: m[3]!, permission: m[4]! };
}

export function formatEntitlementText(e: Entitlement): string {
  return `${e.integration}/${e.resourceType}:${e.resource}#${e.permission}`;
}

export function relative(isoTime: string, now = Date.now()): string {
  const ms = Date.parse(isoTime) - now;
  const abs = Math.abs(ms);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)}s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min` : `${(abs / 3_600_000).toFixed(1)} h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/**
 * What must never reach a terminal as it is: the C0 and C1 control characters and DEL (cursor
 * movement, screen clearing, title setting, carriage returns that overwrite a line), the
 * bidirectional controls (U+202E and U+2066–U+2069 reorder what follows) and the Unicode
 * line and paragraph separators.
 */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}\u2028\u2029]/gu;
/** The same, less what JSON.stringify escapes itself (U+0000–U+001F), so a JSON text's own newlines stay. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\p{Bidi_Control}\u2028\u2029]/gu;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const hex = (c: string, digits: number) => c.charCodeAt(0).toString(16).padStart(digits, '0');

/** Text shown visibly: every unsafe character as an escape (`\x1b`, `\r`, `\n`, `\u202e`). */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? (c.charCodeAt(0) < 0x100 ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/** JSON of a value, exact (JSON.parse gives it back), with no raw control character in it. */
export function jsonText(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}

/**
 * Where everything the command line prints goes. Every line for a person passes through
 * `line`, which shows control characters escaped: text from the server (justifications,
 * reasons, names, errors) cannot move the cursor, rewrite a line or reorder what is seen.
 * One call is one line; the line break is the writer's. `data` is written exactly:
 * machine-readable output (JSON from jsonText, CSV, a token) and the CLI's own fixed text.
 */
export interface Output {
  line(text: string): void;
  data(text: string): void;
}

export function output(write: (text: string) => void): Output {
  return { line: (text) => write(escapeControl(text)), data: write };
}

export function printTable(out: (s: string) => void, header: string[], rows: string[][]): void {
  if (rows.length === 0) {
    out('(none)');
    return;
  }
  // Escaped here only so that the columns line up; the line is escaped again (a no-op) on output.
  const cells = rows.map((r) => r.map(escapeControl));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (cs: string[]) => cs.map((c, i) => (i === cs.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  out(line(header));
  for (const r of cells) out(line(r));
}

/**
 * When a request's access ends, as a list shows it: active access its expiry ("in 25 min"),
 * ended access when it ended ("ended 3 min ago", not the expiry it never reached), anything
 * else nothing ("-").
 */
export function expiryText(r: { status: string; expiresAt: string | null; endedAt: string | null }, now = Date.now()): string {
  if (r.status === 'active') return r.expiresAt ? relative(r.expiresAt, now) : 'indefinite';
  if (r.endedAt) return `ended ${relative(r.endedAt, now)}`;
  return '-';
}

export function printRequest(out: (s: string) => void, r: AccessRequest): void {
  out(`request ${r.id}`);
  out(`  status:        ${r.status}${r.error ? ` (${r.error})` : ''}`);
  out(`  flow:          ${r.flowId}${r.bundleName ? ` · bundle ${r.bundleName}` : ''}`);
  out(`  requester:     ${r.requester}`);
  const when = r.status === 'active' && r.expiresAt ? ` · expires ${r.expiresAt} (${relative(r.expiresAt)})` : r.endedAt ? ` · ended ${r.endedAt} (${relative(r.endedAt)})` : '';
  out(`  duration:      ${r.duration}${when}`);
  if (r.justification) out(`  justification: ${r.justification}`);
  if (r.waitingFor) out(`  waiting for:   ${r.waitingFor}${r.pendingExtension ? ` (extension by ${r.pendingExtension.duration})` : ''}`);
  if (r.status === 'pending') out(`  approvers:     ${r.approverGroups.map((g) => `${g.description}: ${g.users.join(', ') || 'nobody'}`).join(' | ')}`);
  for (const d of r.decisions) out(`  ${d.decision}d by ${d.approver}${d.reason ? `: ${d.reason}` : ''}`);
  for (const e of r.entitlements) out(`  - ${formatEntitlementText(e)}`);
  for (const g of r.grants) {
    out(`  grant ${g.integration}: ${g.status}${g.attempts > 1 ? ` (attempt ${g.attempts})` : ''}${g.lastError ? ` — last error: ${g.lastError}` : ''}`);
    if (g.accessDetails) for (const [k, val] of Object.entries(g.accessDetails)) out(`      ${k}: ${val}`);
  }
}
