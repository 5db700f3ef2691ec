import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkRolePrefix, cleanError, decodeMarker, encodeMarker, generatePassword, loginName, mergePermissions, shortId, splitPath, userFragment,
} from './common.ts';

describe('login names', () => {
  test('the user part keeps ASCII letters and digits, folds accents, and is never empty', () => {
    assert.equal(userFragment('Alice.Smith@example.com', 24), 'alicesmithexamplecom');
    assert.equal(userFragment('Zoë Ørsted', 24), 'zoersted');
    assert.equal(userFragment(`O'Brien"; DROP ROLE x; --`, 24), 'obriendroprolex');
    assert.equal(userFragment('名前', 24), 'u');
    assert.equal(userFragment('abcdefghij', 4), 'abcd');
  });

  test('the same request always gets the same name; another request or integration another', () => {
    const a = loginName('lapse_', 'pg', 'req-1', 'alice', 63);
    assert.equal(a, loginName('lapse_', 'pg', 'req-1', 'alice', 63));
    assert.equal(a, `lapse_alice_${shortId('pg', 'req-1')}`);
    assert.notEqual(a, loginName('lapse_', 'pg', 'req-2', 'alice', 63));
    assert.notEqual(a, loginName('lapse_', 'other-pg', 'req-1', 'alice', 63));
    assert.match(shortId('pg', 'req-1'), /^[0-9a-f]{8}$/);
  });

  test('names fit the limit: 32 characters for MySQL even with a long user id and the longest prefix', () => {
    const name = loginName('abcdefghijklmnop', 'my', 'req', 'a-very-long-user-identifier-indeed', 32);
    assert.equal(name.length, 32);
    assert.match(name, /^abcdefghijklmnop[a-z0-9]+_[0-9a-f]{8}$/);
    assert.throws(() => loginName('abcdefghijklmnop', 'my', 'req', 'x', 25), /leaves no room/);
  });

  test('prefixes are checked', () => {
    assert.equal(checkRolePrefix('lapse_', 'here'), 'lapse_');
    for (const bad of ['', 'Lapse_', '1abc', 'a-b', 'a"b', 'abcdefghijklmnopq']) assert.throws(() => checkRolePrefix(bad, 'here'), /here: role prefix/);
  });
});

test('passwords: 32 characters from letters and digits, different each time', () => {
  const seen = new Set<string>();
  const counts = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const p = generatePassword();
    assert.match(p, /^[A-Za-z0-9]{32}$/);
    seen.add(p);
    for (const c of p) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  assert.equal(seen.size, 200);
  // 6,400 characters over 62 symbols: every symbol shows up.
  assert.equal(counts.size, 62);
});

test('markers round-trip; other comments are not markers', () => {
  const m = { request: 'r1', integration: 'pg', user: `O'Brien"`, entitlements: [{ resourceType: 'table', resource: 'a/b/c', permission: 'read' }] };
  assert.deepEqual(decodeMarker(encodeMarker(m)), m);
  assert.equal(decodeMarker('made by hand'), null);
  assert.equal(decodeMarker(null), null);
  assert.equal(decodeMarker('lapse-access:{not json'), null);
  assert.equal(decodeMarker('lapse-access:{"request":"r1"}'), null);
});

test('resource paths: the last part takes the rest, the others may not be empty', () => {
  assert.deepEqual(splitPath('app/public/users', 3, 'table'), ['app', 'public', 'users']);
  assert.deepEqual(splitPath('app/public/a/b', 3, 'table'), ['app', 'public', 'a/b']);
  assert.throws(() => splitPath('app/users', 3, 'table'), /table "app\/users" must be a path of 3 part\(s\)/);
  assert.throws(() => splitPath('/public/users', 3, 'table'), /must be a path/);
  assert.throws(() => splitPath('app/public/', 3, 'table'), /has an empty name/);
});

test('errors leaving an integration carry no secret', () => {
  const err = Object.assign(new Error("syntax error near 'IDENTIFIED BY 'S3cretPassw0rd'' at line 1"), { sql: "CREATE USER 'x' IDENTIFIED BY 'S3cretPassw0rd'" });
  const clean = cleanError(err, ['S3cretPassw0rd', undefined], 'grant of x failed');
  assert.equal(clean.message, "grant of x failed: syntax error near 'IDENTIFIED BY '[redacted]'' at line 1");
  assert.equal((clean as Error & { sql?: string }).sql, undefined);
});

test('permission maps: levels and privileges are checked, overrides merge over the defaults', () => {
  const allowed = { table: ['SELECT', 'INSERT', 'ALL'], schema: ['USAGE'] } as const;
  const defaults = { read: { table: ['SELECT'], schema: ['USAGE'] } };
  const merged = mergePermissions<'table' | 'schema'>(defaults, { read: { table: ['select', 'insert'] }, append: { table: ['Insert'] } }, { table: [...allowed.table], schema: [...allowed.schema] }, 'conn.permissions');
  assert.deepEqual(merged, { read: { table: ['SELECT', 'INSERT'], schema: ['USAGE'] }, append: { table: ['INSERT'], schema: [] } });
  assert.throws(() => mergePermissions(defaults, { read: { view: ['SELECT'] } }, { table: ['SELECT'], schema: ['USAGE'] }, 'conn.permissions'), /conn\.permissions\.read\.view: unknown level/);
  assert.throws(() => mergePermissions(defaults, { read: { table: ['DROP'] } }, { table: ['SELECT'], schema: ['USAGE'] }, 'conn.permissions'), /conn\.permissions\.read\.table: unknown privilege "DROP"/);
  assert.throws(() => mergePermissions(defaults, { read: ['SELECT'] }, { table: ['SELECT'], schema: ['USAGE'] }, 'conn.permissions'), /conn\.permissions\.read: must be a map/);
});
