// Human output for the command line.

import type { Entitlement } from '../domain/request.ts';
import type { RequestView } from '../api/views.ts';

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

export function printTable(out: (s: string) => void, header: string[], rows: string[][]): void {
  if (rows.length === 0) {
    out('(none)');
    return;
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  out(line(header));
  for (const r of rows) out(line(r));
}

export function printRequest(out: (s: string) => void, r: RequestView): void {
  out(`request ${r.id}`);
  out(`  status:        ${r.status}${r.error ? ` (${r.error})` : ''}`);
  out(`  flow:          ${r.flowId}${r.bundleName ? ` · bundle ${r.bundleName}` : ''}`);
  out(`  requester:     ${r.requester}`);
  out(`  duration:      ${r.duration}${r.expiresAt ? ` · expires ${r.expiresAt} (${relative(r.expiresAt)})` : ''}`);
  if (r.justification) out(`  justification: ${r.justification}`);
  if (r.status === 'pending') out(`  approvers:     ${r.approverGroups.map((g) => `${g.description}: ${g.users.join(', ') || 'nobody'}`).join(' | ')}`);
  for (const d of r.decisions) out(`  ${d.decision}d by ${d.approver}${d.reason ? `: ${d.reason}` : ''}`);
  for (const e of r.entitlements) out(`  - ${formatEntitlementText(e)}`);
  for (const g of r.grants) {
    out(`  grant ${g.integration}: ${g.status}${g.attempts > 1 ? ` (attempt ${g.attempts})` : ''}${g.lastError ? ` — last error: ${g.lastError}` : ''}`);
    if (g.accessDetails) for (const [k, val] of Object.entries(g.accessDetails)) out(`      ${k}: ${val}`);
  }
}
