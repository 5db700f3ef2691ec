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

test('replicas opening one fresh record at the same moment all start: the record is set up once', async () => {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const dir = mkdtempSync(join(tmpdir(), 'lapse-demo-race-'));
  const record = join(dir, 'demo.db');
  const module = fileURLToPath(new URL('./demo-integration.ts', import.meta.url));
  // Every process loads first, then all open the record at one agreed moment.
  const at = Date.now() + 3000;
  const script = `const { DemoIntegration } = await import(${JSON.stringify(module)}); await new Promise((r) => setTimeout(r, ${at} - Date.now())); const d = new DemoIntegration('demo', ${JSON.stringify(record)}, []); await d.close();`;
  try {
    const codes = await Promise.all(Array.from({ length: 8 }, () => new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      child.once('exit', (code) => resolve({ code, err }));
    })));
    assert.deepEqual(codes.filter((c) => c.code !== 0), [], codes.map((c) => c.err).join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
