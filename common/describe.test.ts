import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeAccess } from './describe.ts';

const e = (resource: string, permission: string) => ({ integration: 'demo', resource, permission });

test('access named by its bundle, its one entitlement, its one resource, or its flow and size', () => {
  assert.equal(describeAccess({ flowId: 'f', bundleName: 'Demo bundle', entitlements: [e('app', 'read'), e('analytics', 'read')] }), 'Demo bundle');
  assert.equal(describeAccess({ flowId: 'f', entitlements: [e('prod-db', 'read')] }), 'prod-db · read');
  assert.equal(describeAccess({ flowId: 'f', entitlements: [e('app', 'read'), e('app', 'write')] }), 'app · read, write');
  assert.equal(describeAccess({ flowId: 'f', flowName: 'Read any database', entitlements: [e('app', 'read'), e('analytics', 'read')] }), 'Read any database · 2 entitlements');
  assert.equal(describeAccess({ flowId: 'demo-auto', entitlements: [] }), 'demo-auto · 0 entitlements');
});
