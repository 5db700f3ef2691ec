// What to tell a person about a change, planned from one event of `GET /api/v1/events`
// (or one local expiry warning): a key that identifies the notification across restarts,
// a title, a body, the actions the platform may offer and what a click opens. Used by the
// tray app (Electron `Notification`) and by `lapse watch` (node-notifier) alike. Pure.

import { durationWords } from './countdown.ts';
import { warningKey, type PlannedWarning } from './warning-planner.ts';

/** One event as the events stream sends it (`at` as ISO text). */
export interface StreamEvent {
  id: string;
  type: string;
  at: string;
  requestId: string | null;
  data: Record<string, unknown>;
}

export type NotificationAction = 'copy-access-details' | 'extend' | 'revoke';

export type ClickTarget =
  | { view: 'inbox'; requestId: string }
  | { view: 'my-access'; requestId: string };

export interface PlannedNotification {
  /** Stable across restarts and reconnects: the same key is shown once. */
  key: string;
  title: string;
  body: string;
  actions: { action: NotificationAction; label: string }[];
  onClick: ClickTarget | null;
  requestId: string | null;
}

/** What the planner may know about a request beyond the event (from the API), for the text. */
export interface RequestLabel {
  /** Short description, e.g. "Write app tables · app/users write". */
  label: string;
  /** Access details can be copied (the requester's grant has some). */
  hasAccessDetails?: boolean;
}

const ACTION_LABELS: Record<NotificationAction, string> = {
  'copy-access-details': 'Copy access details',
  extend: 'Extend',
  revoke: 'Revoke now',
};
const actions = (...a: NotificationAction[]) => a.map((action) => ({ action, label: ACTION_LABELS[action] }));

const str = (v: unknown): string | null => (typeof v === 'string' && v.length ? v : null);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/**
 * The notification `me` should see for `event`, or null when the event is not news to
 * them (their own action, another person's access they do not decide on, a step between
 * states). Admins receive every event on the stream; they are told only about their own
 * requests and about requests they may decide.
 */
export function planEventNotification(event: StreamEvent, me: string, about?: RequestLabel): PlannedNotification | null {
  const d = event.data;
  const requestId = event.requestId;
  if (!requestId) return null;
  const requester = str(d.requester);
  const what = about?.label ?? str(d.flowId) ?? requestId;
  const by = str(d.by);
  const reason = str(d.reason);
  const mine = requester === me;
  const base = { key: event.id, requestId };
  const myAccess: ClickTarget = { view: 'my-access', requestId };

  // For approvers: a request (or an extension) waiting for their decision.
  if ((event.type === 'approval.requested' || event.type === 'extension.requested') && list(d.approvers).includes(me) && !mine) {
    const ext = event.type === 'extension.requested';
    return { ...base, title: ext ? 'Extension waiting for your approval' : 'Request waiting for your approval', body: `${requester ?? 'someone'} asks ${ext ? 'to extend ' : 'for '}${what}`, actions: [], onClick: { view: 'inbox', requestId } };
  }
  if (event.type === 'request.break_glass' && list(d.notify).includes(me) && !mine) {
    return { ...base, title: 'Break-glass access taken', body: `${requester ?? 'someone'} took emergency access: ${what}`, actions: [], onClick: { view: 'inbox', requestId } };
  }
  if (!mine) return null;

  switch (event.type) {
    case 'request.approved':
      return { ...base, title: 'Request approved', body: `${what} — approved${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}`, actions: [], onClick: myAccess };
    case 'request.denied':
      return { ...base, title: 'Request denied', body: `${what} — denied${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}`, actions: [], onClick: myAccess };
    case 'extension.denied':
      return { ...base, title: 'Extension denied', body: `${what} — denied${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}`, actions: [], onClick: myAccess };
    case 'request.extended':
      return { ...base, title: 'Access extended', body: `${what}${typeof d.expiresAt === 'number' ? ` — now until ${new Date(d.expiresAt).toISOString().slice(11, 16)} UTC` : ''}`, actions: [], onClick: myAccess };
    case 'request.granted': {
      // The event is stamped a few ms after the grant: round to the minute ("1 h", not "59 min").
      const left = typeof d.expiresAt === 'number' ? ` for ${durationWords(Math.max(1000, Math.round((d.expiresAt - Date.parse(event.at)) / 60_000) * 60_000))}` : '';
      return { ...base, title: 'Access granted', body: `${what} — active${left}`, actions: about?.hasAccessDetails === false ? [] : actions('copy-access-details'), onClick: myAccess };
    }
    case 'request.failed':
      return { ...base, title: 'Access could not be granted', body: `${what}${str(d.error) ? ` — ${str(d.error)}` : ''}`, actions: [], onClick: myAccess };
    case 'request.expiring': {
      // The server's warning, keyed as the tray's local warning for the same moment: one notification.
      const expiresAt = typeof d.expiresAt === 'number' ? d.expiresAt : null;
      const offset = typeof d.warningOffsetMs === 'number' ? d.warningOffsetMs : null;
      if (expiresAt === null || offset === null) return null;
      return expiringNotification({ requestId, expiresAt, offsetMs: offset, key: warningKey(requestId, expiresAt, offset), at: expiresAt - offset }, about);
    }
    case 'request.expired':
      return { ...base, title: 'Access expired', body: `${what} has lapsed`, actions: [], onClick: myAccess };
    case 'request.revoked':
      // Revoking it yourself needs no notification; someone else doing it does.
      if (by === me) return null;
      return { ...base, title: 'Access revoked', body: `${what} — revoked${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}`, actions: [], onClick: myAccess };
    default:
      return null;
  }
}

/** The warning before access lapses, with "Extend" and "Revoke now". */
export function expiringNotification(w: PlannedWarning, about?: RequestLabel): PlannedNotification {
  return {
    key: w.key,
    requestId: w.requestId,
    title: `Access expires in ${durationWords(w.offsetMs)}`,
    body: `${about?.label ?? w.requestId} lapses at ${new Date(w.expiresAt).toISOString().slice(11, 16)} UTC`,
    actions: actions('extend', 'revoke'),
    onClick: { view: 'my-access', requestId: w.requestId },
  };
}

export interface DoNotDisturb {
  enabled: boolean;
  /** Epoch ms it ends by itself; null: until turned off. */
  until?: number | null;
}

export function isQuiet(dnd: DoNotDisturb | undefined, now: number): boolean {
  if (!dnd?.enabled) return false;
  return dnd.until == null || now < dnd.until;
}
