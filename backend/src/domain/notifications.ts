// Who is told what, and where: from a transition of a request (an audit entry of the change
// that makes it) to the messages it causes, each for one recipient on one channel, with an
// idempotency key per event, recipient and channel. No I/O: the outbox rows are written in
// the same transaction as the transition, and delivered later (services/outbox-delivery.ts).

import { createHash } from 'node:crypto';
import type { ChatChannelConfig, NotificationsConfig } from './config.ts';
import type { CompiledConfig } from './catalog.ts';
import { formatEntitlement, type RequestRecord } from './request.ts';
import { allApprovers } from './approvals.ts';
import { formatDuration } from '../../../common/duration.ts';

/** A transition as its audit entry records it (the store's TransitionEntry). */
export interface TransitionEntry {
  at: number;
  actor: string;
  action: string;
  requestId: string | null;
  data: Record<string, unknown>;
}

/** What a request looks like in a message: enough to decide, never a credential. */
export interface RequestSummary {
  id: string;
  requester: string;
  requesterName: string;
  flowId: string;
  flowName: string;
  bundleId: string | null;
  integrations: string[];
  /** `integration/type:resource#permission` each. */
  entitlements: string[];
  duration: string;
  justification: string | null;
  status: string;
  /** Who may decide, and why (the flow's approver groups as their descriptions). */
  approvers: string[];
  why: string[];
  expiresAt: number | null;
}

/** One message's content, as stored in the outbox: the channel formats it when it delivers. */
export interface NotificationMessage {
  /** What happened, e.g. approval.requested, request.denied, revoke.failing. */
  event: string;
  eventId: string;
  at: number;
  /** Whom it addresses: the person's role in the request, or a whole channel. */
  role: 'approver' | 'requester' | 'admin' | 'channel';
  request: RequestSummary | null;
  /** Who acted, the reason given, an error, … (per event). */
  detail: Record<string, unknown>;
  /** The request's page in the portal (null without settings.publicUrl). */
  link: string | null;
}

/** A row of the outbox, before it is written. */
export interface OutboxInput {
  /** SHA-256 of event id, recipient and channel: the same notification is written (and taken by a receiver) once. */
  key: string;
  eventId: string;
  /** `email`, `direct` (a direct message in chat), `chat:<id>` or `webhook:<id>`. */
  channel: string;
  /** The person (email, direct), or null for a whole channel. */
  recipient: string | null;
  /** The person's email address when it was written (email, and direct, which finds them by it). */
  address: string | null;
  requestId: string | null;
  message: NotificationMessage;
  createdAt: number;
}

/** A delivery that keeps failing is retried this many times by default. */
export const DEFAULT_MAX_ATTEMPTS = 10;
/** A revoke still failing after this many attempts is told to the admins (once). */
export const REVOKE_FAILING_AFTER = 3;

/** Events a chat channel carries: an approver's concerns and their outcomes. */
const CHAT_EVENTS = new Set(['approval.requested', 'request.break_glass', 'request.approved', 'request.denied', 'request.canceled', 'request.timed_out', 'extension.requested', 'approval.reminder']);

export function outboxKey(eventId: string, recipient: string | null, channel: string): string {
  return createHash('sha256').update(`${eventId}\u0000${recipient ?? ''}\u0000${channel}`).digest('hex');
}

export function summarize(r: RequestRecord, compiled: CompiledConfig): RequestSummary {
  const flow = compiled.flows.get(r.flowId);
  return {
    id: r.id, requester: r.requester, requesterName: compiled.users.get(r.requester)?.name ?? r.requester,
    flowId: r.flowId, flowName: flow?.name ?? r.flowId, bundleId: r.bundleId,
    integrations: [...new Set(r.entitlements.map((e) => e.integration))],
    entitlements: r.entitlements.map(formatEntitlement),
    duration: r.durationMs === null ? 'indefinite' : formatDuration(r.durationMs),
    justification: r.justification, status: r.status,
    approvers: allApprovers(r.approverGroups), why: r.approverGroups.map((g) => g.description),
    expiresAt: r.expiresAt,
  };
}

/** Who may decide the request, as they are told: the requester never where the flow forbids it. */
function deciders(r: RequestRecord, compiled: CompiledConfig): string[] {
  const forbidOwn = compiled.flows.get(r.flowId)?.settings.requesterCannotApproveOwn ?? true;
  return allApprovers(r.approverGroups).filter((u) => !(forbidOwn && u === r.requester));
}

interface Told {
  event: string;
  role: NotificationMessage['role'];
  people: string[];
  detail: Record<string, unknown>;
}

/** Whom a transition concerns (people by role), and as what event. Null: nobody outside Lapse. */
function whoIsTold(entry: TransitionEntry, r: RequestRecord | null, compiled: CompiledConfig): Told[] {
  const detail = { ...(entry.actor !== 'system' ? { by: entry.actor } : {}), ...pick(entry.data, ['reason', 'error', 'integration', 'attempt', 'extension', 'duration']) };
  if (!r) {
    if (entry.action === 'reconcile.revoked') return [{ event: 'reconcile.fixed', role: 'admin', people: [...compiled.admins], detail: pick(entry.data, ['account', 'integration', 'user']) }];
    return [];
  }
  const approvers = deciders(r, compiled);
  const others = (actor: string) => approvers.filter((u) => u !== actor);
  switch (entry.action) {
    case 'request.created':
      return r.status === 'pending' && !r.breakGlass ? [{ event: 'approval.requested', role: 'approver', people: approvers, detail }] : [];
    case 'request.break_glass':
      // Every approver at once, the requester too: someone took access without waiting.
      return [{ event: 'request.break_glass', role: 'approver', people: allApprovers(r.approverGroups), detail }];
    case 'approval.reminder':
      return r.status === 'pending' ? [{ event: 'approval.reminder', role: 'approver', people: approvers.filter((u) => !r.decisions.some((d) => d.approver === u)), detail }] : [];
    case 'request.approved':
    case 'request.denied':
      // Only a decision that settles the request (allOf waits for everyone) is news.
      if (entry.action === 'request.approved' && r.status === 'pending') return [];
      return [
        { event: entry.action, role: 'requester', people: [r.requester], detail },
        { event: 'approval.decided', role: 'approver', people: others(entry.actor), detail: { ...detail, outcome: entry.action === 'request.approved' ? 'approved' : 'denied' } },
      ];
    case 'request.canceled':
      return entry.actor === r.requester ? [{ event: 'request.canceled', role: 'approver', people: approvers, detail }] : [{ event: 'request.canceled', role: 'requester', people: [r.requester], detail }];
    case 'request.timed_out':
      return [{ event: 'request.timed_out', role: 'requester', people: [r.requester], detail }, { event: 'request.timed_out', role: 'approver', people: approvers, detail }];
    case 'request.active':
      return [{ event: 'request.granted', role: 'requester', people: [r.requester], detail: {} }];
    case 'request.failed':
      return [{ event: 'request.failed', role: 'requester', people: [r.requester], detail }];
    case 'request.expiring':
      return [{ event: 'request.expiring', role: 'requester', people: [r.requester], detail: pick(entry.data, ['msLeft', 'expiresAt']) }];
    case 'request.expired':
      return [{ event: 'request.expired', role: 'requester', people: [r.requester], detail: {} }];
    case 'request.revoked':
      // Revoked by the requester themself: nothing to tell them.
      return r.endedBy !== null && r.endedBy !== r.requester && r.endReason !== 'self'
        ? [{ event: 'request.revoked', role: 'requester', people: [r.requester], detail: { by: r.endedBy, reason: r.endNote } }] : [];
    case 'extension.requested':
      return [{ event: 'extension.requested', role: 'approver', people: approvers, detail }];
    case 'extension.approved':
    case 'extension.denied':
    case 'extension.timed_out':
      return [{ event: entry.action, role: 'requester', people: [r.requester], detail }];
    case 'grant.revoke_failed':
      return entry.data.attempt === REVOKE_FAILING_AFTER ? [{ event: 'revoke.failing', role: 'admin', people: [...compiled.admins], detail }] : [];
    default:
      return [];
  }
}

function pick(data: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => data[k] !== undefined && data[k] !== null).map((k) => [k, data[k]]));
}

/** A chat channel carries a request when its flows and labels (empty: any) match. */
function chatCarries(c: ChatChannelConfig, r: RequestRecord | null): boolean {
  if (!r) return false;
  return (c.flows.length === 0 || c.flows.includes(r.flowId)) && (c.labels.length === 0 || c.labels.some((l) => r.labels.includes(l)));
}

/** Whether a webhook subscriber's filters (exact types, or a prefix ending in `*`; empty: all) take an event. */
export function webhookWants(filters: readonly string[], event: string): boolean {
  return filters.length === 0 || filters.some((f) => (f.endsWith('*') ? event.startsWith(f.slice(0, -1)) : f === event));
}

/** The people who turned a personal channel off (heeded where the admins let them; never for the admins' notices). */
export interface OptedOut {
  email: ReadonlySet<string>;
  /** Direct messages in chat. */
  chat: ReadonlySet<string>;
}

/**
 * The outbox rows a transition causes: each person concerned by email and by direct message
 * (where that channel is set up, they have an address, and they did not turn it off where
 * they may), each chat channel that carries the request once per event, and each webhook
 * subscriber that wants the event once.
 */
export function notificationsFor(
  entry: TransitionEntry,
  r: RequestRecord | null,
  eventId: string,
  d: {
    compiled: CompiledConfig;
    notifications: NotificationsConfig;
    publicUrl: string | undefined;
    /** People who turned email or direct messages off (heeded where notifications.*.optOut allows). */
    optedOut?: OptedOut;
  },
): OutboxInput[] {
  const told = whoIsTold(entry, r, d.compiled);
  if (told.length === 0) return [];
  const request = r ? summarize(r, d.compiled) : null;
  const link = r && d.publicUrl ? `${d.publicUrl}/#/requests/${encodeURIComponent(r.id)}` : null;
  const out: OutboxInput[] = [];
  const add = (channel: string, recipient: string | null, address: string | null, t: Told, role: NotificationMessage['role']) => {
    const id = `${eventId}:${t.event}`;
    out.push({
      key: outboxKey(id, recipient, channel), eventId: id, channel, recipient, address, requestId: r?.id ?? null, createdAt: entry.at,
      message: { event: t.event, eventId: id, at: entry.at, role, request, detail: t.detail, link },
    });
  };
  for (const t of told) {
    for (const [channel, config, off] of [['email', d.notifications.email, d.optedOut?.email], ['direct', d.notifications.directMessages, d.optedOut?.chat]] as const) {
      if (!config) continue;
      const heedChoice = config.optOut && t.role !== 'admin';
      for (const person of new Set(t.people)) {
        const address = d.compiled.users.get(person)?.email;
        if (address && !(heedChoice && off?.has(person))) add(channel, person, address, t, t.role);
      }
    }
    if (CHAT_EVENTS.has(t.event) && t.role !== 'admin') {
      for (const c of d.notifications.chat) if (chatCarries(c, r)) add(`chat:${c.id}`, null, null, t, 'channel');
    }
    for (const w of d.notifications.webhooks) if (webhookWants(w.events, t.event)) add(`webhook:${w.id}`, null, null, t, 'channel');
  }
  // One row per key: an event that concerns a person twice (an approver who is also told as requester) is told once a channel.
  return [...new Map(out.map((o) => [o.key, o])).values()];
}

/**
 * The admins' notice that a notification was given up (by email and direct message to each admin, and to the
 * webhook subscribers that want `delivery.failed`). None for a notice of this kind itself:
 * a failing channel does not feed itself.
 */
export function deliveryFailedNotifications(
  row: { key: string; channel: string; recipient: string | null; requestId: string | null; message: NotificationMessage },
  error: string,
  compiled: CompiledConfig,
  notifications: NotificationsConfig,
  now: number,
): OutboxInput[] {
  if (row.message.event === 'delivery.failed') return [];
  const eventId = `delivery:${row.key}:failed:${now}`;
  const message = (role: NotificationMessage['role']): NotificationMessage => ({
    event: 'delivery.failed', eventId, at: now, role, request: row.message.request,
    detail: { channel: row.channel, recipient: row.recipient, event: row.message.event, error: error.slice(0, 500) }, link: row.message.link,
  });
  const out: OutboxInput[] = [];
  for (const [channel, config] of [['email', notifications.email], ['direct', notifications.directMessages]] as const) {
    if (!config) continue;
    for (const admin of compiled.admins) {
      const address = compiled.users.get(admin)?.email;
      if (address && !(row.channel === channel && row.recipient === admin)) {
        out.push({ key: outboxKey(eventId, admin, channel), eventId, channel, recipient: admin, address, requestId: row.requestId, message: message('admin'), createdAt: now });
      }
    }
  }
  for (const w of notifications.webhooks) {
    if (webhookWants(w.events, 'delivery.failed') && row.channel !== `webhook:${w.id}`) {
      out.push({ key: outboxKey(eventId, null, `webhook:${w.id}`), eventId, channel: `webhook:${w.id}`, recipient: null, address: null, requestId: row.requestId, message: message('channel'), createdAt: now });
    }
  }
  return out;
}
