import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeenKeys } from './seen-keys.ts';

test('a key is new once; the state survives a round trip through JSON (a restart)', () => {
  const seen = new SeenKeys();
  assert.equal(seen.add('r1:2:request.approved'), true);
  assert.equal(seen.add('r1:2:request.approved'), false);
  seen.lastEventId = 'r1:2:request.approved';
  const restored = new SeenKeys(JSON.parse(JSON.stringify(seen)));
  assert.equal(restored.add('r1:2:request.approved'), false);
  assert.equal(restored.add('r1:3:request.granted'), true);
  assert.equal(restored.lastEventId, 'r1:2:request.approved');
});

test('bounded: the oldest keys are forgotten first', () => {
  const seen = new SeenKeys({}, 3);
  for (const k of ['a', 'b', 'c', 'd']) seen.add(k);
  assert.equal(seen.size, 3);
  assert.equal(seen.has('a'), false);
  assert.deepEqual(seen.toJSON().keys, ['b', 'c', 'd']);
  const smaller = new SeenKeys(seen.toJSON(), 2);
  assert.deepEqual(smaller.toJSON().keys, ['c', 'd']);
});

test('a damaged state file starts empty rather than failing', () => {
  const seen = new SeenKeys({ keys: 'nope' as unknown as string[], lastEventId: 5 as unknown as string });
  assert.equal(seen.size, 0);
  assert.equal(seen.lastEventId, null);
  assert.throws(() => new SeenKeys({}, 0), /positive integer/);
});
