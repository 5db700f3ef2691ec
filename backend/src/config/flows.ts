// The `flows` section: requester and approver conditions, approval, the time window
// (`when`), targets, flow settings, and grant durations by kind (self-serve or automatic).

import {
  CONDITION_OPS,
  DEFAULT_FLOW_SETTINGS,
  WEEKDAYS,
  type ApprovalPolicy,
  type Condition,
  type ConditionGroup,
  type FlowConfig,
  type FlowSettings,
  type FlowTarget,
  type TimeWindow,
} from '../domain/config.ts';
import { formatDuration } from '../../../common/duration.ts';
import type { ResourceTypesByIntegration } from './integrations.ts';
import { readSelector } from './targets.ts';
import { readStepUp } from './single-sign-on.ts';
import { readWait } from './settings.ts';
import { declareId, describe, idRef, type Fields, type Reader, type RefKind } from './yaml-reader.ts';

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
  const f = r.map(node, path, [...flags.map((k) => `${k}?`), 'labels?', 'maxExtensions?', 'stepUp?', 'pendingTimeout?']);
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
  if (f.has('pendingTimeout')) {
    const wait = readWait(r, f.get('pendingTimeout'), f.at('pendingTimeout'), 60_000);
    if (wait === undefined) ok = false;
    else settings.pendingTimeoutMs = wait;
  }
  if (f.has('stepUp')) {
    // What it leaves out is settings.oidc.stepUp's (see stepUpFor).
    const stepUp = readStepUp(r, f.get('stepUp'), f.at('stepUp'));
    if (stepUp === undefined) ok = false;
    else if (!settings.requireMfa) {
      r.error(f.get('stepUp'), f.at('stepUp'), 'a step-up applies to flows that require MFA: add requireMfa: true');
      ok = false;
    } else settings.stepUp = stepUp;
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

export function readFlow(r: Reader, node: unknown, path: string, known: ResourceTypesByIntegration): FlowConfig | undefined {
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
