import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResourceConfig } from './config.ts';
import { inventoryChanges, inventoryEntries, mergeResources, parseCommentTags, pathMatches, pathPatternProblem, ruleMatches, tagsOf, type TagRule } from './inventory.ts';

test('a lapse: line gives its pairs and leaves the rest of the comment alone', () => {
  const { tags, warnings } = parseCommentTags('Orders of the shop.\nlapse: pii=true team=payments\nOwned by the payments team.');
  assert.deepEqual(tags, { pii: 'true', team: 'payments' });
  assert.deepEqual(warnings, []);
});

test('quoted values keep their blanks, and \\" and \\\\ stand for a quote and a backslash', () => {
  const { tags, warnings } = parseCommentTags('lapse: owner="Payments team" note="say \\"hi\\" C:\\\\x" empty=""');
  assert.deepEqual(tags, { owner: 'Payments team', note: 'say "hi" C:\\x', empty: '' });
  assert.deepEqual(warnings, []);
});

test('no comment, or one without a lapse: line, gives no tags and no warning', () => {
  assert.deepEqual(parseCommentTags(null), { tags: {}, warnings: [] });
  assert.deepEqual(parseCommentTags(''), { tags: {}, warnings: [] });
  assert.deepEqual(parseCommentTags('just words; lapse is mentioned here: not a tag line'), { tags: {}, warnings: [] });
});

test('a malformed lapse: line is ignored whole with a warning; the other lines still count', () => {
  const { tags, warnings } = parseCommentTags('lapse: pii=true\nlapse: team=core oops\nlapse: env=prod');
  assert.deepEqual(tags, { pii: 'true', env: 'prod' });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /line 2 .*expected key=value, got "oops".*ignored/);
});

test('each kind of malformed line is named', () => {
  const cases: [string, RegExp][] = [
    ['lapse: a="unterminated', /no closing quote/],
    ['lapse: "x"=1', /is not a tag key/],
    ['lapse: a="x"b', /expected a blank after the quoted value/],
    ['lapse: a=x"y', /quote inside it/],
    ['lapse:', /no key=value pairs/],
    ['lapse: =v', /is not a tag key/],
    [`lapse: a=${'x'.repeat(300)}`, /longer than 256/],
    ['lapse: a="x\u0001y"', /control character/],
    [`lapse: ${'k'.repeat(65)}=v`, /is not a tag key/],
  ];
  for (const [comment, expected] of cases) {
    const { tags, warnings } = parseCommentTags(comment);
    assert.deepEqual(tags, {}, comment);
    assert.equal(warnings.length, 1, comment);
    assert.match(warnings[0]!, expected, comment);
  }
});

test('a warning shows control characters of the line as "?" and clips a long line', () => {
  const { warnings } = parseCommentTags(`lapse: \u0007bell ${'z'.repeat(100)}`);
  assert.equal(warnings.length, 1);
  assert.ok(!/\u0007/.test(warnings[0]!));
  assert.ok(warnings[0]!.length < 200);
});

test('path patterns: * within a segment, ** across segments, everything else literal', () => {
  assert.ok(pathMatches('app/public/*', 'app/public/orders'));
  assert.ok(!pathMatches('app/public/*', 'app/public/x/y'));
  assert.ok(pathMatches('app/**', 'app/public/x/y'));
  assert.ok(pathMatches('*/public/*', 'shop/public/orders'));
  assert.ok(!pathMatches('app/public.*', 'app/publicXorders'), 'a dot is a dot');
  assert.ok(pathMatches('app/(x)+', 'app/(x)+'));
  assert.ok(!pathMatches('app/*', 'app'));
  assert.equal(pathPatternProblem('app/public/*'), null);
  assert.match(pathPatternProblem('/app')!, /expected a resource path pattern/);
  assert.match(pathPatternProblem('app//x')!, /expected a resource path pattern/);
  assert.match(pathPatternProblem('a/***')!, /means nothing more/);
});

test('rules match by type, path pattern and parent; later rules and then comments win', () => {
  const rules: TagRule[] = [
    { parent: 'app/public', tags: { pii: 'true', zone: 'a' } },
    { type: 'table', path: 'app/public/audit_*', tags: { zone: 'b' } },
    { type: 'schema', tags: { never: 'x' } },
  ];
  const orders = { type: 'table', name: 'orders', parent: 'app/public', tags: {} };
  assert.ok(ruleMatches(rules[0]!, orders));
  assert.ok(!ruleMatches(rules[0]!, { type: 'table', name: 'orders', parent: 'app/publicity' }), 'a parent is a whole segment');
  assert.ok(ruleMatches(rules[0]!, { type: 'table', name: 't', parent: 'app/public/deep' }));
  assert.deepEqual(tagsOf(orders, rules).tags, { pii: 'true', zone: 'a' });
  assert.deepEqual(tagsOf({ ...orders, name: 'audit_log' }, rules).tags, { pii: 'true', zone: 'b' });
  assert.deepEqual(tagsOf({ ...orders, comment: 'lapse: zone=c pii=false' }, rules).tags, { pii: 'false', zone: 'c' });
  const bad = tagsOf({ ...orders, comment: 'lapse: zone' }, rules);
  assert.deepEqual(bad.tags, { pii: 'true', zone: 'a' });
  assert.equal(bad.warnings.length, 1);
});

test('declared resources win over discovered ones of the same type and path; others are added', () => {
  const merged = mergeResources(
    [{ type: 'table', name: 'orders', parent: 'app/public', tags: { pii: 'declared' } }],
    [
      { type: 'table', name: 'orders', parent: 'app/public', tags: { pii: 'discovered' } },
      { type: 'table', name: 'items', parent: 'app/public', tags: {} },
      { type: 'schema', name: 'orders', parent: 'app/public', tags: {} },
    ],
  );
  assert.deepEqual(merged.map((r) => [r.type, r.name, r.tags.pii ?? null, r.origin]), [
    ['table', 'orders', 'declared', 'declared'],
    ['table', 'items', null, 'discovered'],
    ['schema', 'orders', null, 'discovered'],
  ]);
});

test('what a sync writes: found resources tagged, declared ones as declared (found or not), unofferable names left out with a warning', () => {
  const declared: ResourceConfig[] = [
    { type: 'table', name: 'orders', parent: 'app/public', tags: { pii: 'declared' } },
    { type: 'table', name: 'planned', parent: 'app/public', tags: { soon: 'yes' } },
  ];
  const rules: TagRule[] = [{ parent: 'app', tags: { zone: 'app' } }];
  const { entries, warnings } = inventoryEntries([
    { type: 'database', name: 'app', tags: {} },
    { type: 'table', name: 'orders', parent: 'app/public', tags: {}, comment: 'lapse: pii=comment' },
    { type: 'table', name: 'it\'s "x"', parent: 'app/public', tags: {}, comment: 'lapse: team="a b"' },
    { type: 'table', name: 'bell\u0007', parent: 'app/public', tags: {} },
    { type: 'table', name: '', parent: 'app/public', tags: {} },
    { type: 'table', name: 'has#hash', parent: 'app/public', tags: {} },
    { type: 'table', name: 'broken', parent: 'app/public', tags: {}, comment: 'lapse: =x' },
  ], declared, rules, (name) => (name.includes('#') ? 'no # here' : undefined));
  assert.deepEqual(entries.map((e) => [e.type, e.path, e.origin, e.tags]), [
    ['database', 'app', 'discovered', {}],
    ['table', 'app/public/orders', 'declared', { pii: 'declared' }],
    ['table', 'app/public/it\'s "x"', 'discovered', { zone: 'app', team: 'a b' }],
    ['table', 'app/public/broken', 'discovered', { zone: 'app' }],
    ['table', 'app/public/planned', 'declared', { soon: 'yes' }],
  ]);
  assert.equal(entries[2]!.name, 'it\'s "x"');
  assert.equal(entries[2]!.parent, 'app/public');
  assert.equal(entries[0]!.parent, null);
  assert.deepEqual(warnings.map((w) => w.replace(/:.*$/, '')), ['table "app/public/bell\\u0007" is not offered', 'table "app/public/" is not offered', 'table "app/public/has#hash" is not offered', 'table "app/public/broken"']);
  assert.match(warnings[0]!, /its name holds a control character/);
  assert.match(warnings[1]!, /its name is empty/);
  assert.match(warnings[2]!, /no # here/);
  assert.match(warnings[3]!, /is not a tag key/);
});

test('changes between two syncs: added, removed, and a change of tags or origin alone', () => {
  const e = (path: string, tags: Record<string, string> = {}, origin: 'declared' | 'discovered' = 'discovered') => ({ type: 'table', path, name: path, parent: null, tags, origin });
  assert.deepEqual(inventoryChanges([e('a'), e('b')], [e('b'), e('a')]), { added: 0, removed: 0, changed: false });
  assert.deepEqual(inventoryChanges([e('a', { x: '1', y: '2' })], [e('a', { y: '2', x: '1' })]), { added: 0, removed: 0, changed: false }, 'the order of tags does not matter');
  assert.deepEqual(inventoryChanges([e('a'), e('b')], [e('a'), e('c')]), { added: 1, removed: 1, changed: true });
  assert.deepEqual(inventoryChanges([e('a', { x: '1' })], [e('a', { x: '2' })]), { added: 0, removed: 0, changed: true });
  assert.deepEqual(inventoryChanges([e('a', { x: '1' })], [e('a', { x: '1', y: '' })]), { added: 0, removed: 0, changed: true });
  assert.deepEqual(inventoryChanges([e('a')], [e('a', {}, 'declared')]), { added: 0, removed: 0, changed: true });
  assert.deepEqual(inventoryChanges([e('a'), e('b')], []), { added: 0, removed: 2, changed: true });
  assert.deepEqual(inventoryChanges([], []), { added: 0, removed: 0, changed: false });
});
