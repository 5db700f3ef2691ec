import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, MAX_DURATION_MS, parseDuration } from './duration.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('a duration is one or more number-unit parts, largest unit first', () => {
  const cases: [string, number][] = [
    ['45s', 45 * S],
    ['90m', 90 * M],
    ['1h', H],
    ['1h30m', H + 30 * M],
    ['2d', 2 * D],
    ['1d12h', D + 12 * H],
    ['1w', 7 * D],
    ['1w2d3h4m5s', 7 * D + 2 * D + 3 * H + 4 * M + 5 * S],
    ['36h', 36 * H],
    ['1m1s', M + S],
    ['0h15m', 15 * M],
    ['01h', H],
  ];
  for (const [text, ms] of cases) {
    assert.equal(parseDuration(text), ms, text);
  }
});

test('anything that is not a positive compact duration is rejected, saying what was expected', () => {
  const cases = [
    'abc',
    '',
    ' ',
    '1',
    '0',
    '0s',
    '0m',
    '0h0m',
    '-1h',
    '-30m',
    '1.5h',
    '1H',
    '1 h',
    '1h 30m',
    ' 1h',
    '1h ',
    '30m1h',
    '1h1h',
    '1ms',
    '1y',
    'h',
    '1hm',
    '+1h',
    '1e3s',
    '99999999999999999999w',
  ];
  for (const text of cases) {
    assert.throws(
      () => parseDuration(text),
      (err: unknown) => {
        assert.ok(err instanceof Error, text);
        assert.match(err.message, /expected a .*duration.* such as "90m", "1h" or "1h30m", got /, text);
        assert.ok(err.message.includes(JSON.stringify(text)), `${text}: ${err.message}`);
        return true;
      },
      text,
    );
  }
});

test('a duration is at most 3650 days, so every instant computed from one is a date', () => {
  assert.equal(parseDuration('3650d'), MAX_DURATION_MS);
  assert.equal(parseDuration('521w3d'), MAX_DURATION_MS);
  for (const text of ['3650d1s', '3651d', '522w', '87601h', '14290000w']) {
    assert.throws(() => parseDuration(text), /at most 3650d .*too long/, text);
  }
  assert.ok(!Number.isNaN(new Date(8.64e15 - MAX_DURATION_MS).getTime()));
});

test('the parse error quotes the bad input exactly', () => {
  assert.throws(() => parseDuration('abc'), { message: 'expected a duration such as "90m", "1h" or "1h30m", got "abc"' });
  assert.throws(() => parseDuration('0m'), {
    message: 'expected a duration longer than zero such as "90m", "1h" or "1h30m", got "0m"',
  });
});

test('a duration is formatted compactly with days as the largest unit', () => {
  const cases: [number, string][] = [
    [45 * S, '45s'],
    [90 * M, '1h30m'],
    [H, '1h'],
    [2 * D, '2d'],
    [D + 12 * H, '1d12h'],
    [7 * D, '7d'],
    [D + S, '1d1s'],
    [2 * H + 5 * S, '2h5s'],
    [59 * S, '59s'],
    [60 * S, '1m'],
    [0, '0s'],
  ];
  for (const [ms, text] of cases) {
    assert.equal(formatDuration(ms), text, String(ms));
  }
});

test('parts of a second round up, so anything below a second is 1s', () => {
  const cases: [number, string][] = [
    [1, '1s'],
    [999, '1s'],
    [1000, '1s'],
    [1001, '2s'],
    [59_001, '1m'],
    [H - 1, '1h'],
  ];
  for (const [ms, text] of cases) {
    assert.equal(formatDuration(ms), text, String(ms));
  }
});

test('negative or non-finite milliseconds cannot be formatted', () => {
  for (const ms of [-1, -H, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => formatDuration(ms), RangeError, String(ms));
  }
});

test('a formatted duration parses back to the same whole seconds', () => {
  for (const ms of [S, 45 * S, 90 * M, H + S, 3 * D + 4 * H + 5 * M + 6 * S, 7 * D, 400 * D]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
  }
});
