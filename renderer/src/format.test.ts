// The renderer's pure parts: countdown text at its boundaries, the request form's checks and
// the mapping of API field paths to form fields, the inbox rule after a live update, routes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awaitsDecisionBy, countdownText, denialOf, expiryWarningsText, requestTitle } from './format.ts';
import { fieldOf, validate } from './views/request.tsx';
import { parseRoute } from './router.ts';
import { generatePendingRequests } from '../bench/memory-api.ts';
import { ApiError, errorDetail, isLapseApiMethod, type CatalogFlow } from '../../common/lapse-api.ts';

const T = Date.parse('2026-06-01T10:00:00Z');
const at = (ms: number) => new Date(T + ms).toISOString();

test('countdownText at its boundaries', () => {
  assert.equal(countdownText(null, T), 'no expiry');
  assert.equal(countdownText(at(0), T), 'expired');
  assert.equal(countdownText(at(-5000), T), 'expired');
  assert.equal(countdownText(at(1), T), '1 s left');
  assert.equal(countdownText(at(59_000), T), '59 s left');
  assert.equal(countdownText(at(59_001), T), '1 min left', 'under a minute but rounds up to 60 s');
  assert.equal(countdownText(at(60_000), T), '1 min left');
  assert.equal(countdownText(at(42 * 60_000 + 30_000), T), '42 min left');
  assert.equal(countdownText(at(3_599_000), T), '59 min left');
  assert.equal(countdownText(at(3_599_001), T), '1 h left', 'seconds round up, then whole minutes');
  assert.equal(countdownText(at(3_600_000), T), '1 h left');
  assert.equal(countdownText(at(3_600_000 + 5 * 60_000), T), '1 h 05 min left');
  assert.equal(countdownText(at(47 * 3_600_000 + 59 * 60_000), T), '47 h 59 min left');
  assert.equal(countdownText(at(48 * 3_600_000), T), '2 d left');
});

const flow: CatalogFlow = {
  id: 'f', name: 'Write app tables', description: '', kind: 'self-serve', available: true, reason: null,
  entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'app/users', permission: 'write' }], bundles: [],
  defaultDuration: '1h', maxDuration: '4h', approval: 'anyOf', requireJustification: true, requireMfa: true, breakGlass: false, labels: [], integrationHealth: [],
};
const good = { picked: new Set(['x']), bundleId: '', duration: '2h', justification: 'INC-1', startAt: '', mfaCode: '123456' };

test('the request form\'s checks name each field at fault', () => {
  assert.deepEqual(validate(flow, good, T), {});
  assert.deepEqual(Object.keys(validate(undefined, good, T)), ['flowId']);
  assert.deepEqual(Object.keys(validate(flow, { ...good, picked: new Set() }, T)), ['entitlements']);
  assert.deepEqual(Object.keys(validate(flow, { ...good, picked: new Set(), bundleId: 'b' }, T)), [], 'a bundle stands for the permissions');
  assert.match(validate(flow, { ...good, duration: '5h' }, T).duration!, /At most 4h/);
  assert.match(validate(flow, { ...good, duration: 'indefinite' }, T).duration!, /At most 4h/);
  assert.match(validate(flow, { ...good, duration: 'soon' }, T).duration!, /such as 30m/);
  assert.deepEqual(validate(flow, { ...good, duration: '' }, T), {}, 'no duration: the flow\'s default');
  assert.deepEqual(validate({ ...flow, maxDuration: 'indefinite' }, { ...good, duration: 'indefinite' }, T), {});
  assert.match(validate(flow, { ...good, justification: '  ' }, T).justification!, /requires a justification/);
  assert.deepEqual(validate({ ...flow, requireJustification: false }, { ...good, justification: '' }, T), {});
  assert.match(validate(flow, { ...good, mfaCode: '12345' }, T).mfaCode!, /6-digit/);
  assert.deepEqual(validate({ ...flow, requireMfa: false }, { ...good, mfaCode: '' }, T), {});
  assert.match(validate(flow, { ...good, startAt: '2026-05-01T10:00' }, T).startAt!, /in the past/);
  assert.match(validate(flow, { ...good, startAt: 'nope' }, T).startAt!, /valid date/);
  const optional = { ...flow, requireJustification: false, breakGlass: true };
  assert.match(validate(optional, { ...good, justification: '', breakGlass: true }, T).justification!, /Break-glass access needs a justification/);
  assert.deepEqual(validate(optional, { ...good, breakGlass: true }, T), {});
});

test('API field paths land on the form\'s fields', () => {
  assert.equal(fieldOf('justification'), 'justification');
  assert.equal(fieldOf('entitlements[0].permission'), 'entitlements');
  assert.equal(fieldOf('entitlements'), 'entitlements');
  assert.equal(fieldOf('startAt'), 'startAt');
  assert.equal(fieldOf('mfaCode'), 'mfaCode');
  assert.equal(fieldOf('breakGlass'), 'breakGlass');
  assert.equal(fieldOf('query status'), 'form');
  assert.equal(fieldOf(undefined), 'form');
  assert.equal(fieldOf('(body)'), 'form');
});

test('awaitsDecisionBy: pending and not yet decided by me; extensions by their own subject', () => {
  const [r] = generatePendingRequests(1, 'bob');
  assert.equal(awaitsDecisionBy(r!, 'bob'), true);
  assert.equal(awaitsDecisionBy({ ...r!, yourApproverRoles: [] }, 'bob'), false);
  assert.equal(awaitsDecisionBy({ ...r!, status: 'active' }, 'bob'), false);
  const decided = { ...r!, decisions: [{ approver: 'bob', decision: 'approve', reason: null, at: at(0), subject: 'request' }] };
  assert.equal(awaitsDecisionBy(decided, 'bob'), false, 'allOf: bob already approved, others still to');
  const ext = { ...decided, status: 'active' as const, pendingExtension: { number: 1, duration: '1h', justification: null, requestedAt: at(0) } };
  assert.equal(awaitsDecisionBy(ext, 'bob'), true, 'the extension is a new subject');
  assert.equal(awaitsDecisionBy({ ...ext, decisions: [...ext.decisions, { ...ext.decisions[0]!, subject: 'extension:1' }] }, 'bob'), false);
});

test('denialOf and requestTitle', () => {
  const [r] = generatePendingRequests(1, 'bob');
  assert.equal(denialOf(r!), null);
  const denied = { ...r!, status: 'rejected' as const, decisions: [{ approver: 'bob', decision: 'deny', reason: 'freeze', at: at(0), subject: 'request' }] };
  assert.deepEqual(denialOf(denied), { by: 'bob', reason: 'freeze' });
  assert.equal(requestTitle({ ...r!, bundleName: null, flowName: 'Write app tables', entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'app/users', permission: 'write' }] }), 'Write app tables · table app/users · write');
  assert.equal(requestTitle({ ...r!, bundleName: 'Demo bundle', flowName: 'Demo' }), 'Demo · Demo bundle');
});

test('routes: the window kind from the hash, access by default', () => {
  assert.equal(parseRoute('#/inbox').view, 'inbox');
  assert.equal(parseRoute('#/request?favorite=f1').params.get('favorite'), 'f1');
  assert.equal(parseRoute('#/settings').view, 'settings');
  assert.equal(parseRoute('#/account').view, 'account');
  assert.equal(parseRoute('').view, 'access');
  assert.equal(parseRoute('#/nope').view, 'access');
});

test('errors in any shape they arrive in (IPC rejects with plain problem data) become an ApiError', () => {
  const fromIpc = ApiError.from({ status: 422, title: 'Invalid request', detail: 'flow "x" requires a justification', field: 'justification' });
  assert.ok(fromIpc instanceof ApiError);
  assert.equal(fromIpc.field, 'justification');
  assert.equal(errorDetail({ status: 404, title: 'Not found', detail: 'request r1 not found' }), 'request r1 not found');
  assert.equal(errorDetail(new Error('boom')), 'boom');
  assert.equal(ApiError.from(new Error('boom')).status, 0);
  assert.equal(errorDetail('plain text'), 'plain text');
  assert.ok(isLapseApiMethod('approve'));
  assert.ok(!isLapseApiMethod('subscribe'), 'the stream has its own channel');
  assert.ok(!isLapseApiMethod('constructor'));
  assert.ok(!isLapseApiMethod(42));
});

test('expiryWarningsText: the server\'s warnings in words; none; not said', () => {
  assert.equal(expiryWarningsText(['10m', '1m']), '10 min and 1 min');
  assert.equal(expiryWarningsText(['1h', '30m', '90s']), '1 h, 30 min and 1 min');
  assert.equal(expiryWarningsText(['5m']), '5 min');
  assert.equal(expiryWarningsText(['soon', '5m']), '5 min', 'what is not a duration is left out');
  assert.equal(expiryWarningsText([]), '');
  assert.equal(expiryWarningsText(undefined), null, 'a server older than the field');
});
