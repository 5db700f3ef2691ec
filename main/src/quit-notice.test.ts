import { test } from 'node:test';
import assert from 'node:assert/strict';
import { overdueRevokesText, quitNotice } from './quit-notice.ts';
import { ent, request } from './menu-fixtures.ts';

const active = (id: string, resource = 'prod-db') => request(id, { expiresAt: '2026-01-05T13:00:00.000Z', entitlements: [ent(resource, 'read')] });

test('quitting a team server, or with no active access: nothing to say', () => {
  assert.equal(quitNotice(false, [active('a')]), null, 'a team server revokes on time without the app');
  assert.equal(quitNotice(true, []), null);
  assert.equal(quitNotice(true, [request('p', { status: 'pending' }), request('e', { status: 'expired' })]), null, 'only active access counts');
});

test('quitting embedded mode with active access: it stays until the app runs again, and "Revoke now" ends each', () => {
  const one = quitNotice(true, [active('a'), request('p', { status: 'pending' })])!;
  assert.equal(one.message, 'You still have active access.');
  assert.equal(one.detail, 'Lapse runs embedded in this app: access is revoked on time only while the app runs. Once it is closed, this access stays until Lapse starts again, which revokes what fell due meanwhile.\n\n• prod-db · read');
  assert.deepEqual(one.revoke, ['a']);
  const many = quitNotice(true, ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => active(id, `db-${id}`)))!;
  assert.equal(many.message, '7 of your requests are still active.');
  assert.match(many.detail, /they stay until Lapse starts again/);
  assert.match(many.detail, /• db-e · read\n• and 2 more$/);
  assert.equal(many.revoke.length, 7);
});

test('at start: how many revokes that fell due while the app was closed were run', () => {
  assert.equal(overdueRevokesText(0), null);
  assert.equal(overdueRevokesText(1), '1 revoke that fell due while Lapse was closed was run');
  assert.equal(overdueRevokesText(3), '3 revokes that fell due while Lapse was closed were run');
});
