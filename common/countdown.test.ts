import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countdownText, msUntilTextChanges } from './countdown.ts';

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
const S = 1000, MIN = 60_000, H = 3_600_000, DAY = 86_400_000;
const left = (ms: number) => countdownText(NOW + ms, NOW);

test('countdown text at the unit boundaries', () => {
  assert.equal(left(1), '1 s left');
  assert.equal(left(59 * S), '59 s left');
  assert.equal(left(59 * S + 999), '59 s left');
  assert.equal(left(60 * S), '1 min left');
  assert.equal(left(MIN + 59 * S), '1 min left');
  assert.equal(left(59 * MIN), '59 min left');
  assert.equal(left(60 * MIN - 1), '59 min left');
  assert.equal(left(H), '1 h left');
  assert.equal(left(H + 5 * MIN), '1 h 5 min left');
  assert.equal(left(DAY - 1), '23 h 59 min left');
  assert.equal(left(DAY), '1 day left');
  assert.equal(left(DAY + 3 * H), '1 day 3 h left');
  assert.equal(left(2 * DAY), '2 days left');
  assert.equal(left(10 * DAY + 5 * H), '10 days left');
});

test('expired at and after the moment; indefinite without an expiry', () => {
  assert.equal(left(0), 'expired');
  assert.equal(left(-5 * MIN), 'expired');
  assert.equal(countdownText(null, NOW), 'indefinite');
});

test('the next redraw is when the text changes', () => {
  for (const ms of [1, 999, 1000, 1001, 59 * S, 59 * S + 1, MIN, MIN + 1, 42 * MIN + 30 * S, H, 3 * H + 1, DAY + 1, 3 * DAY + 7]) {
    const wait = msUntilTextChanges(NOW + ms, NOW)!;
    assert.ok(wait > 0, `${ms}: ${wait}`);
    const before = left(ms);
    assert.equal(countdownText(NOW + ms, NOW + wait - 1), before, `${ms}: unchanged 1 ms before the change`);
    assert.notEqual(countdownText(NOW + ms, NOW + wait), before, `${ms}: changed at ${wait}`);
  }
  assert.equal(msUntilTextChanges(null, NOW), null);
  assert.equal(msUntilTextChanges(NOW, NOW), null);
});
