import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAuditCursor, encodeAuditCursor } from './audit-cursor.ts';

test('a cursor reads back as the position and order it was made with', () => {
  for (const c of [{ order: 'asc', seq: 0 }, { order: 'desc', seq: 42 }, { order: 'desc', seq: Number.MAX_SAFE_INTEGER }] as const) {
    const text = encodeAuditCursor(c);
    assert.match(text, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeAuditCursor(text), c);
  }
});

test('an altered cursor is refused with a reason', () => {
  const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
  const cases: [string, RegExp][] = [
    ['', /not base64url/],
    ['abc$', /not base64url/],
    ['../../etc/passwd', /not base64url/],
    [b64('not json'), /not readable/],
    [b64([1, 2]), /not one this server gave$/],
    [b64(null), /not one this server gave$/],
    [b64({ v: 2, o: 'asc', s: 1 }), /unknown version/],
    [b64({ v: 1, o: 'asc', s: 1, extra: true }), /unknown version/],
    [b64({ v: 1, o: 'sideways', s: 1 }), /no order/],
    [b64({ v: 1, o: 'asc', s: -1 }), /no position/],
    [b64({ v: 1, o: 'asc', s: 1.5 }), /no position/],
    [b64({ v: 1, o: 'asc', s: '1' }), /no position/],
    [b64({ v: 1, o: 'asc', s: 1e300 }), /no position/],
    ['A'.repeat(201), /not base64url/],
  ];
  for (const [text, reason] of cases) assert.throws(() => decodeAuditCursor(text), reason, text);
});
