// What `lapse watch` prints at start, and again when the server cannot replay what it missed:
// the requests waiting for the caller's decision (the inbox) and the caller's active access.

import { describeAccess, type DescribableRequest } from '../../../common/describe.ts';
import { relative } from './format.ts';

/** A request as the inbox and the requests list send it, with what these lines show. */
export interface WatchedRequest extends DescribableRequest {
  id: string;
  requester: string;
  duration: string;
  justification: string | null;
  expiresAt: string | null;
  pendingExtension?: { duration: string } | null;
}

/** The lines for the inbox and the active access, as of `now` (ms). */
export function stateLines(inbox: WatchedRequest[], active: WatchedRequest[], now: number): string[] {
  const lines = [`waiting for your decision: ${inbox.length === 0 ? 'nothing' : inbox.length}`];
  for (const r of inbox) {
    const what = r.pendingExtension ? `extend by ${r.pendingExtension.duration}` : r.duration;
    lines.push(`  ${r.id}  ${r.requester}: ${describeAccess(r)} for ${what}${r.justification ? ` — ${r.justification}` : ''}`);
  }
  lines.push(`your active access: ${active.length === 0 ? 'none' : active.length}`);
  for (const r of active) lines.push(`  ${r.id}  ${describeAccess(r)} — ${r.expiresAt ? `ends ${relative(r.expiresAt, now)}` : 'no end'}`);
  return lines;
}
