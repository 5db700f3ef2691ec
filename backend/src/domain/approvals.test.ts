// Who a waiting request waits for, as its requester is told: any of (everyone who may
// decide), all of (one from each group still to approve), the requester left out where the
// flow forbids approving one's own; nobody for a request that waits no more.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitingFor } from './approvals.ts';
import type { RequestRecord } from './request.ts';

const base = {
  id: 'r1', requester: 'alice', flowId: 'f', bundleId: null, entitlements: [], durationMs: 3_600_000, justification: null, labels: [], breakGlass: false,
  createdAt: 0, updatedAt: 0, startAt: null, grantedAt: null, expiresAt: null, endedAt: null, endReason: null, endedBy: null, endNote: null,
  decisions: [], extensions: 0, pendingExtension: null, error: null, version: 1,
  approverGroups: [{ description: 'group is sre-leads', users: ['bob', 'erin'] }, { description: 'manager', users: ['alice', 'carol'] }],
} satisfies Omit<RequestRecord, 'status' | 'approvalMode'>;

test('waiting for: any of, all of, the requester left out, nobody once decided', () => {
  assert.equal(waitingFor({ ...base, status: 'pending', approvalMode: 'anyOf' }, true), 'bob, carol or erin');
  assert.equal(waitingFor({ ...base, status: 'pending', approvalMode: 'anyOf' }, false), 'alice, bob, carol or erin');
  assert.equal(waitingFor({ ...base, status: 'pending', approvalMode: 'allOf' }, true), 'one of bob, erin, and carol');
  const bobApproved: RequestRecord = { ...base, status: 'pending', approvalMode: 'allOf', decisions: [{ approver: 'bob', decision: 'approve', reason: null, at: 1, subject: 'request' }] };
  assert.equal(waitingFor(bobApproved, true), 'carol', 'the sre-leads group is done');
  assert.equal(waitingFor({ ...base, status: 'active', approvalMode: 'anyOf' }, true), null);
  assert.equal(waitingFor({ ...base, status: 'active', approvalMode: 'anyOf', pendingExtension: { number: 1, durationMs: 1, justification: null, requestedAt: 1 } }, true), 'bob, carol or erin');
  assert.equal(waitingFor({ ...base, status: 'pending', approvalMode: 'automatic' }, true), null);
  assert.equal(waitingFor({ ...base, status: 'pending', approvalMode: 'anyOf', approverGroups: [{ description: 'manager', users: ['alice'] }] }, true), null, 'nobody may decide');
});
