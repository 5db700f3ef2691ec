// The admin views' pure parts: the filters read from the address, a reload's changes in words.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterOf } from './activity.tsx';
import { changeLines } from './configuration.tsx';

test('the Activity filters come from the address: known names only, blanks left out', () => {
  assert.deepEqual(filterOf(new URLSearchParams('user=dave&label=%20prod%20&flow=&evil=1&since=2026-12-01T00:00:00.000Z')), { user: 'dave', label: 'prod', since: '2026-12-01T00:00:00.000Z' });
  assert.deepEqual(filterOf(new URLSearchParams('')), {});
});

test('a reload\'s changes in words, and "Nothing changed." when nothing did', () => {
  const none = { integrations: { added: [], changed: [], removed: [] }, flows: { added: 0, removed: 0 }, users: { added: 0, removed: 0 }, revoked: [], leaving: [] };
  assert.deepEqual(changeLines(none), ['Nothing changed.']);
  assert.deepEqual(changeLines({ ...none, integrations: { added: ['redis'], changed: [{ id: 'pg', parts: ['connection', 'name'] }], removed: ['old'] }, users: { added: 1, removed: 2 }, revoked: ['r1'], leaving: ['old'] }), [
    'Integrations added: redis',
    'Integrations changed: pg (connection, name)',
    'Integrations removed: old',
    'Users: 1 added, 2 removed',
    'Requests revoked: r1',
    'Integrations kept until their revokes end: old',
  ]);
});
