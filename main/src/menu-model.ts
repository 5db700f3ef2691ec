// The tray menu as plain data, built from state: what a person holds, what they may ask
// for, what waits for their decision. The Electron shell turns it into a `Menu`; tests and
// the benchmark read it as is. Pure: the time is part of the state.

import type { AccessRequest, CatalogFlow, Entitlement, Favorite, NewRequest } from '../../common/lapse-api.ts';
import { countdownText } from '../../common/countdown.ts';
import { describeAccess } from '../../common/describe.ts';

export type View = 'inbox' | 'my-access' | 'request' | 'settings';

export type MenuAction =
  /** One click: request now from a favorite (no input needed). */
  | { kind: 'request-favorite'; favoriteId: string }
  /** One click: create this request now (no input needed). */
  | { kind: 'request'; input: NewRequest }
  /** The flow needs a justification, an MFA code or a choice: the request window, pre-filled. */
  | { kind: 'open-request'; prefill: Partial<NewRequest> & { favoriteId?: string }; needs: ('justification' | 'mfa' | 'choice')[] }
  | { kind: 'copy-access-details'; requestId: string }
  | { kind: 'extend'; requestId: string; duration: string }
  /** The extension needs a justification (or the flow MFA, or its flow is unknown): the extend window for this request. */
  | { kind: 'open-extend'; requestId: string }
  /** `confirm`: ask natively first (break-glass access, or a bundle: several grants go at once). */
  | { kind: 'revoke'; requestId: string; confirm: boolean }
  | { kind: 'cancel'; requestId: string }
  | { kind: 'open'; view: View; requestId?: string }
  | { kind: 'reconnect' }
  | { kind: 'quit' };

export type MenuItem =
  | { type: 'separator' }
  | { type: 'item'; id: string; label: string; enabled: boolean; action?: MenuAction; submenu?: MenuItem[]; toolTip?: string };

export type Connection =
  | { state: 'online' }
  | { state: 'connecting' }
  | { state: 'offline'; detail: string }
  /** Team mode without a server URL or token yet. */
  | { state: 'not-configured' };

export interface MenuState {
  connection: Connection;
  catalog: CatalogFlow[];
  favorites: Favorite[];
  /** The caller's own requests (any status; the menu picks what it shows). */
  myRequests: AccessRequest[];
  approvalsCount: number;
  /** The ids of the requests waiting for my decision (the inbox opens on the one when there is one). */
  approvalIds?: string[];
  /** Admins only: requests stuck in revoking, a revoke of theirs having failed at least once. */
  stuckRevocations?: AccessRequest[];
  /** Said first in the menu since the app started, e.g. the revokes that fell due while it was closed. */
  notice?: string;
  now: number;
}

const SEP: MenuItem = { type: 'separator' };
const entitlementLabel = (e: Entitlement) => `${e.resource} · ${e.permission}`;

/** What a request from `flow` still needs from the person before it can be sent. */
export function inputsNeeded(flow: CatalogFlow, has: { justification?: string | null; entitlements?: Entitlement[]; bundleId?: string | null }): ('justification' | 'mfa' | 'choice')[] {
  const needs: ('justification' | 'mfa' | 'choice')[] = [];
  if (flow.requireJustification && !has.justification) needs.push('justification');
  if (flow.requireMfa) needs.push('mfa');
  if (!has.bundleId && !has.entitlements?.length && flow.entitlements.length + flow.bundles.length > 1) needs.push('choice');
  return needs;
}

/**
 * Whether extending access of `flow` needs more than one click: a justification, or MFA
 * (a code or a step-up at the identity provider). A flow the catalog does not hold
 * (undefined) is not known to need nothing, so it needs the window too.
 */
export function extendNeedsWindow(flow: CatalogFlow | undefined): boolean {
  return !flow || flow.requireJustification || flow.requireMfa || !!flow.stepUp;
}

export function buildMenu(s: MenuState): MenuItem[] {
  const online = s.connection.state === 'online';
  const items: MenuItem[] = [];

  if (s.notice) items.push({ type: 'item', id: 'notice', label: s.notice, enabled: false }, SEP);
  if (s.connection.state === 'not-configured') {
    items.push({ type: 'item', id: 'status', label: 'Not connected — set a server and token', enabled: true, action: { kind: 'open', view: 'settings' } });
    items.push(SEP);
  } else if (s.connection.state !== 'online') {
    const label = s.connection.state === 'connecting' ? 'Connecting…' : `Offline — ${s.connection.detail}`;
    items.push({ type: 'item', id: 'status', label, enabled: false });
    items.push({ type: 'item', id: 'reconnect', label: 'Reconnect now', enabled: true, action: { kind: 'reconnect' } });
    items.push(SEP);
  }

  const byFlow = new Map(s.catalog.map((f) => [f.id, f]));

  // Favorites: one click each.
  const favorites: MenuItem[] = s.favorites.map((fav) => {
    const flow = byFlow.get(fav.flowId);
    const id = `favorite:${fav.id}`;
    if (!flow) return { type: 'item', id, label: `${fav.name} (no longer offered)`, enabled: false };
    if (!flow.available) return { type: 'item', id, label: `${fav.name} — ${flow.reason ?? 'unavailable'}`, enabled: false };
    const needs = inputsNeeded(flow, fav);
    const action: MenuAction = needs.length
      ? { kind: 'open-request', prefill: { favoriteId: fav.id, flowId: fav.flowId, ...(fav.bundleId ? { bundleId: fav.bundleId } : { entitlements: fav.entitlements }), duration: fav.duration, ...(fav.justification ? { justification: fav.justification } : {}) }, needs }
      : { kind: 'request-favorite', favoriteId: fav.id };
    return { type: 'item', id, label: needs.length ? `${fav.name}…` : fav.name, enabled: online, action };
  });
  items.push({ type: 'item', id: 'favorites', label: 'Favorites', enabled: favorites.length > 0, submenu: favorites.length ? favorites : undefined });

  // Request access: bundles first, then flows with their entitlements.
  const request: MenuItem[] = [];
  const seenBundles = new Set<string>();
  for (const flow of s.catalog) {
    if (!flow.available) continue;
    for (const b of flow.bundles) {
      if (seenBundles.has(b.id)) continue;
      seenBundles.add(b.id);
      request.push(requestItem(`bundle:${b.id}`, b.name, flow, { flowId: flow.id, bundleId: b.id }, online));
    }
  }
  if (request.length) request.push(SEP);
  for (const flow of s.catalog) {
    const id = `flow:${flow.id}`;
    if (!flow.available) {
      request.push({ type: 'item', id, label: `${flow.name} — ${flow.reason ?? 'unavailable'}`, enabled: false, toolTip: flow.reason ?? undefined });
      continue;
    }
    const sub: MenuItem[] = flow.entitlements.map((e) =>
      requestItem(`${id}:${e.integration}/${e.resourceType}:${e.resource}#${e.permission}`, entitlementLabel(e), flow, { flowId: flow.id, entitlements: [e] }, online));
    sub.push(SEP, { type: 'item', id: `${id}:choose`, label: 'Choose…', enabled: online, action: { kind: 'open-request', prefill: { flowId: flow.id }, needs: inputsNeeded(flow, {}) } });
    request.push({ type: 'item', id, label: flow.name, enabled: true, submenu: sub });
  }
  items.push({ type: 'item', id: 'request', label: 'Request access', enabled: request.length > 0, submenu: request.length ? request : undefined });
  items.push(SEP);

  // Active access, each with its countdown; then what waits for approval.
  const active = s.myRequests.filter((r) => r.status === 'active').sort((a, b) => expiry(a) - expiry(b));
  if (active.length === 0) items.push({ type: 'item', id: 'active:none', label: 'No active access', enabled: false });
  for (const r of active) {
    const left = countdownText(r.expiresAt === null ? null : Date.parse(r.expiresAt), s.now);
    const hasDetails = r.grants.some((g) => g.accessDetails && Object.keys(g.accessDetails).length > 0);
    const canExtend = r.extensions < r.maxExtensions && !r.pendingExtension && r.expiresAt !== null;
    const extendInWindow = extendNeedsWindow(byFlow.get(r.flowId));
    const extendAction: MenuAction = extendInWindow ? { kind: 'open-extend', requestId: r.id } : { kind: 'extend', requestId: r.id, duration: r.duration };
    const extendLabel = r.pendingExtension ? 'Extension waiting for approval' : extendInWindow ? `Extend by ${r.duration}…` : `Extend by ${r.duration}`;
    items.push({
      type: 'item', id: `active:${r.id}`, label: `${describeAccess(r)} — ${left}`, enabled: true,
      submenu: [
        { type: 'item', id: `active:${r.id}:copy`, label: 'Copy access details', enabled: hasDetails, action: { kind: 'copy-access-details', requestId: r.id } },
        { type: 'item', id: `active:${r.id}:extend`, label: extendLabel, enabled: online && canExtend, action: extendAction },
        { type: 'item', id: `active:${r.id}:revoke`, label: 'Revoke now', enabled: online, action: { kind: 'revoke', requestId: r.id, confirm: r.breakGlass || r.bundleId !== null } },
      ],
    });
  }
  for (const r of s.myRequests.filter((x) => x.status === 'pending' || x.status === 'scheduled' || x.status === 'granting')) {
    const state = r.status === 'pending' ? `waiting for ${r.waitingFor ?? 'approval'}` : r.status === 'scheduled' ? `starts ${r.startAt ? new Date(r.startAt).toISOString().slice(11, 16) + ' UTC' : 'later'}` : 'granting…';
    items.push({
      type: 'item', id: `waiting:${r.id}`, label: `${describeAccess(r)} — ${state}`, enabled: true,
      submenu: [{ type: 'item', id: `waiting:${r.id}:cancel`, label: 'Cancel request', enabled: online && r.status !== 'granting', action: { kind: 'cancel', requestId: r.id } }],
    });
  }
  items.push(SEP);

  // One request waiting: the inbox opens on it; several: on the list.
  const onlyApproval = s.approvalsCount === 1 && s.approvalIds?.length === 1 ? s.approvalIds[0] : undefined;
  items.push({ type: 'item', id: 'approvals', label: s.approvalsCount ? `Approvals (${s.approvalsCount})` : 'Approvals', enabled: true, action: { kind: 'open', view: 'inbox', ...(onlyApproval ? { requestId: onlyApproval } : {}) } });
  // Admins: access whose revoke keeps failing (it may outlive its grant), with the last error.
  const stuck = s.stuckRevocations ?? [];
  if (stuck.length) {
    items.push({
      type: 'item', id: 'stuck', label: `Stuck revocations (${stuck.length})`, enabled: true,
      submenu: stuck.map((r) => {
        const failing = r.grants.filter((g) => g.status === 'revoking' && g.attempts > 0);
        const attempts = Math.max(0, ...failing.map((g) => g.attempts));
        const error = failing.find((g) => g.lastError)?.lastError ?? null;
        return { type: 'item', id: `stuck:${r.id}`, label: `${r.requester} · ${describeAccess(r)} — ${attempts} failed ${attempts === 1 ? 'attempt' : 'attempts'}`, enabled: true, toolTip: error ?? undefined };
      }),
    });
  }
  items.push({ type: 'item', id: 'open', label: 'Open Lapse', enabled: true, action: { kind: 'open', view: 'my-access' } });
  items.push({ type: 'item', id: 'settings', label: 'Settings…', enabled: true, action: { kind: 'open', view: 'settings' } });
  items.push(SEP);
  items.push({ type: 'item', id: 'quit', label: 'Quit Lapse', enabled: true, action: { kind: 'quit' } });
  return items;
}

function requestItem(id: string, label: string, flow: CatalogFlow, input: NewRequest, online: boolean): MenuItem {
  const needs = inputsNeeded(flow, input);
  const action: MenuAction = needs.length ? { kind: 'open-request', prefill: input, needs } : { kind: 'request', input };
  return { type: 'item', id, label: needs.length ? `${label}…` : label, enabled: online, action };
}

const expiry = (r: AccessRequest) => (r.expiresAt === null ? Infinity : Date.parse(r.expiresAt));

/** Every item of a menu, depth first (tests, and the shell's click lookup). */
export function* walkMenu(items: MenuItem[]): Generator<Extract<MenuItem, { type: 'item' }>> {
  for (const i of items) {
    if (i.type !== 'item') continue;
    yield i;
    if (i.submenu) yield* walkMenu(i.submenu);
  }
}

// ── tray icon ────────────────────────────────────────────────────────────────────────

export type TrayIconState = 'none' | 'active' | 'expiring' | 'approvals';

/**
 * The icon at a glance: something expiring within the warning window beats approvals
 * waiting, which beats access held, which beats nothing.
 */
export function trayIconState(s: Pick<MenuState, 'myRequests' | 'approvalsCount' | 'now'>, warningWindowMs: number): TrayIconState {
  const active = s.myRequests.filter((r) => r.status === 'active');
  if (active.some((r) => r.expiresAt !== null && Date.parse(r.expiresAt) - s.now <= warningWindowMs)) return 'expiring';
  if (s.approvalsCount > 0) return 'approvals';
  if (active.length) return 'active';
  return 'none';
}

/**
 * The icon file in `build/tray/`: macOS gets template images (the system tints them for
 * the menu bar); elsewhere a variant drawn for a light or a dark panel.
 */
export function trayIconFile(state: TrayIconState, platform: NodeJS.Platform, darkPanel: boolean): string {
  if (platform === 'darwin') return `tray-${state}Template.png`;
  return `tray-${state}-${darkPanel ? 'dark' : 'light'}.png`;
}

export function trayToolTip(s: Pick<MenuState, 'myRequests' | 'approvalsCount' | 'connection'>): string {
  const parts = ['Lapse'];
  if (s.connection.state === 'offline') parts.push('offline');
  const active = s.myRequests.filter((r) => r.status === 'active').length;
  if (active) parts.push(`${active} active`);
  if (s.approvalsCount) parts.push(`${s.approvalsCount} waiting for approval`);
  return parts.join(' — ');
}
