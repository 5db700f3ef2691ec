import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uuidv7 } from './ids.ts';

test('ids are version-7 UUIDs carrying their millisecond', () => {
  const id = uuidv7(Date.UTC(2026, 10, 23, 10, 0));
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), Date.UTC(2026, 10, 23, 10, 0));
});

test('ids made one after another sort in the order they were made, also within one millisecond', () => {
  const ids = Array.from({ length: 5000 }, () => uuidv7(Date.UTC(2027, 0, 1)));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});
