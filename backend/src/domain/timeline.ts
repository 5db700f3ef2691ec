// A request's story, read from its audit events: created, each decision with its reason,
// each grant per integration, warnings sent, extensions, the revoke and who did it. One
// entry per event, in the order they happened, each with a kind (for grouping and icons),
// the integration it concerns, the reason given, and a sentence saying what happened.

import { formatDuration } from '../../../common/duration.ts';

export type TimelineKind = 'created' | 'decision' | 'grant' | 'warning' | 'extension' | 'revoke' | 'end' | 'other';

export interface TimelineEvent {
  seq: number;
  at: number;
  actor: string;
  action: string;
  data: Record<string, unknown>;
}

export interface TimelineEntry {
  seq: number;
  at: number;
  actor: string;
  action: string;
  kind: TimelineKind;
  /** The integration the event concerns (a grant, a revoke on one target), else null. */
  integration: string | null;
  /** The reason given with it (a decision, a revoke, a revoke marked canceled), else null. */
  reason: string | null;
  /** What happened, in a sentence. */
  text: string;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
/** " 2" for extension 2; nothing when the number is missing. */
const nth = (v: unknown): string => (num(v) === null ? '' : ` ${num(v)}`);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Who ended access, as the revoke's `by` field says. */
const BY: Record<string, string> = {
  expiry: 'its time ran out', self: 'the requester', approver: 'an approver', admin: 'an admin', 'revoke-all': 'an admin\'s revoke-all',
  condition: 'its flow\'s condition stopped holding', 'grant-failed': 'a grant that failed', 'user-removed': 'the user being removed',
  'timed-out': 'a timeout', 'integration-removed': 'its integration being removed from the configuration',
};

function describe(e: TimelineEvent): { kind: TimelineKind; text: string } {
  const d = e.data;
  const integration = str(d.integration);
  const on = integration ? ` on ${integration}` : '';
  switch (e.action) {
    case 'request.created': {
      const what = list(d.entitlements).join(', ');
      const how = d.approval === 'automatic' ? ', approved automatically' : d.approval === 'break-glass' ? ', break-glass' : '';
      return { kind: 'created', text: `Requested by ${e.actor}${str(d.duration) ? ` for ${String(d.duration)}` : ''}${how}${what ? `: ${what}` : ''}` };
    }
    case 'request.break_glass': return { kind: 'decision', text: `Break-glass: granted without waiting for approval; told ${list(d.notified).join(', ') || 'the approvers'}` };
    case 'request.approved': return { kind: 'decision', text: `Approved by ${e.actor}` };
    case 'request.denied': return { kind: 'decision', text: `Denied by ${e.actor}` };
    case 'approval.reminder': return { kind: 'warning', text: 'The approvers were reminded' };
    case 'request.timed_out': return { kind: 'end', text: `Timed out without a decision${str(d.waited) ? ` after ${String(d.waited)}` : ''}` };
    case 'request.canceled': return { kind: 'end', text: `Canceled by ${e.actor}` };
    case 'request.granting': return { kind: 'grant', text: 'Granting' };
    case 'grant.active': return { kind: 'grant', text: `Granted${on}${list(d.entitlements).length ? `: ${list(d.entitlements).join(', ')}` : ''}` };
    case 'request.active': return { kind: 'grant', text: `Granted${on}${list(d.entitlements).length ? `: ${list(d.entitlements).join(', ')}` : ''}; access is active` };
    case 'grant.attempt_failed': return { kind: 'grant', text: `Grant${on} failed (attempt ${num(d.attempt) ?? '?'})${str(d.error) ? `: ${String(d.error)}` : ''}` };
    case 'request.expiring': {
      const left = num(d.msLeft);
      return { kind: 'warning', text: `Expiry warning sent${left !== null ? ` (${formatDuration(Math.max(0, left))} left)` : ''}` };
    }
    case 'extension.requested': return { kind: 'extension', text: `Extension by ${str(d.duration) ?? '?'} requested by ${e.actor}` };
    case 'extension.approved': return { kind: 'extension', text: `Extension${nth(d.extension)} approved by ${e.actor}` };
    case 'extension.denied': return { kind: 'extension', text: `Extension${nth(d.extension)} denied by ${e.actor}` };
    case 'extension.timed_out': return { kind: 'extension', text: 'The extension timed out without a decision' };
    case 'request.extended': return { kind: 'extension', text: `Extended${nth(d.extension) ? ` (extension${nth(d.extension)})` : ''}` };
    case 'request.revoking': {
      const by = str(d.by);
      return { kind: 'revoke', text: by === 'expiry' ? 'Lapsed: its time ran out; revoking' : `Revoke started by ${e.actor}${by && by !== 'self' && BY[by] ? ` (${BY[by]})` : ''}` };
    }
    case 'grant.revoked': return { kind: 'revoke', text: `Revoked${on}` };
    case 'grant.revoke_failed': return { kind: 'revoke', text: `Revoke${on} failed (attempt ${num(d.attempt) ?? '?'})${str(d.error) ? `: ${String(d.error)}` : ''}` };
    case 'request.revoked': {
      const by = str(d.by);
      if (by === 'expiry') return { kind: 'end', text: 'Lapsed: access ended' };
      // The last grant's revoke is the system's: who asked for it is on the revoke's start.
      if (e.actor === 'system') return { kind: 'end', text: integration ? `Revoked on ${integration}; access ended` : 'Access ended: every grant revoked' };
      return { kind: 'end', text: `Revoked by ${e.actor}${by && by !== 'self' && BY[by] ? ` (${BY[by]})` : ''}` };
    }
    case 'request.revoke_canceled': return { kind: 'end', text: `Revoke marked canceled by ${e.actor}` };
    default: return { kind: 'other', text: `${e.action} by ${e.actor}` };
  }
}

export function requestTimeline(events: readonly TimelineEvent[]): TimelineEntry[] {
  return [...events].sort((a, b) => a.seq - b.seq).map((e) => {
    const { kind, text } = describe(e);
    const reason = e.action === 'request.break_glass' ? null : str(e.data.reason) ?? (e.action === 'extension.requested' ? str(e.data.justification) : null);
    return { seq: e.seq, at: e.at, actor: e.actor, action: e.action, kind, integration: str(e.data.integration), reason, text };
  });
}
