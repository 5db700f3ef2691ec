// The demo integration's own record: what reconciliation and the tests read back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DemoIntegration } from './demo-integration.ts';

test('listGranted returns every grant in (user, type, resource, permission) order, across its pages', async () => {
  const demo = new DemoIntegration('demo', ':memory:', []);
  try {
    // More than one page (2,000 rows), inserted out of order.
    const names = Array.from({ length: 2500 }, (_, i) => `db${String((i * 7919) % 2500).padStart(4, '0')}`);
    await demo.grant({ requestId: 'r1', user: { id: 'bob', email: '' }, entitlements: names.map((resource) => ({ integration: 'demo', resourceType: 'database', resource, permission: 'read' })), expiresAt: null });
    await demo.grant({ requestId: 'r2', user: { id: 'alice', email: '' }, entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'z', permission: 'write' }], expiresAt: null });
    const listed = await demo.listGranted();
    assert.equal(listed.length, 2501);
    assert.deepEqual(listed[0], { user: 'alice', requestId: 'r2', entitlement: { integration: 'demo', resourceType: 'table', resource: 'z', permission: 'write' } });
    const bobs = listed.slice(1).map((g) => g.entitlement.resource);
    assert.deepEqual(bobs, [...names].sort());
    assert.ok(listed.slice(1).every((g) => g.user === 'bob' && g.requestId === 'r1'));
  } finally {
    await demo.close();
  }
});
