// A Redis grant learns nothing about keys outside its prefixes: no key name, no key count.
// Against the real Redis on 127.0.0.1:6379, from the requester's side (a client that logs in
// with the delivered credentials) for every command known to enumerate keys; and, for the
// whole class, by asking the server for every command it knows that names no key and
// checking with ACL DRYRUN that each grant is refused it, but for a commented allow-list of
// harmless ones. A command a newer Redis adds without keys fails the class test until it is
// denied or allow-listed here. Nothing destructive (FLUSHALL, SWAPDB, MONITOR…) is ever run
// for real: those are checked with ACL DRYRUN only.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisIntegration, aclRules } from './redis.ts';
import { DEFAULT_REDIS_PERMISSIONS, REDIS_DENIED_RULES, type RedisPermissionRules } from './redis-permissions.ts';
import type { Entitlement } from '../domain/request.ts';
import { formatConfigErrors, parseConfig } from '../config/load.ts';

const HOST = '127.0.0.1';
const PORT = 6379;
const run = randomBytes(4).toString('hex');
const prefix = `lk${run}_`;
const base = `lapse-keyspace:${run}:`;
const inside = `${base}in:`;
const outside = `${base}out:`;

const PERMISSIONS: Record<string, RedisPermissionRules> = {
  ...DEFAULT_REDIS_PERMISSIONS,
  // The widest configuration there is: only the rules every grant ends with keep it in.
  wide: { keys: 'readwrite', commands: ['+@all'] },
  // SELECT allowed: the prefix is the same in every database.
  selectable: { keys: 'read', commands: ['+@read', '+select', '-@dangerous'] },
};

const admin = new Redis({ host: HOST, port: PORT, lazyConnect: true, maxRetriesPerRequest: 1 });
const admin1 = new Redis({ host: HOST, port: PORT, db: 1, lazyConnect: true, maxRetriesPerRequest: 1 });
const integration = new RedisIntegration('cache', { host: HOST, port: PORT, rolePrefix: prefix, permissions: PERMISSIONS });
const clients: Redis[] = [];

after(async () => {
  for (const c of clients) c.disconnect();
  const users = (await admin.call('ACL', 'USERS')) as string[];
  for (const u of users) if (u.startsWith(prefix)) await admin.call('ACL', 'DELUSER', u);
  for (const db of [admin, admin1]) {
    const keys = await db.keys(`${base.replace(/[*?[\]\\]/g, '\\$&')}*`);
    if (keys.length) await db.del(...keys);
  }
  await integration.close();
  admin.disconnect();
  admin1.disconnect();
});

const ent = (resource: string, permission: string): Entitlement => ({ integration: 'cache', resourceType: 'key-prefix', resource, permission });
let n = 0;

/** Grants `permission` on the inside prefix; returns the ACL user and a client logged in as it. */
async function grant(permission: string): Promise<{ user: string; client: Redis }> {
  const { accessDetails } = await integration.grant({
    requestId: `req-${run}-${++n}`, user: { id: 'alice', email: 'alice@example.com' }, entitlements: [ent(inside, permission)], expiresAt: null,
  });
  assert.ok(accessDetails);
  const client = new Redis({ host: accessDetails.host, port: Number(accessDetails.port), username: accessDetails.user, password: accessDetails.password, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  clients.push(client);
  await client.connect();
  return { user: accessDetails.user!, client };
}

async function seed(): Promise<void> {
  await admin.set(`${inside}s`, 'in');
  await admin.hset(`${inside}h`, 'f', 'in');
  await admin.rpush(`${inside}list`, '2', '1');
  await admin.set(`${outside}s`, 'out');
  await admin.hset(`${outside}h`, 'f', 'out');
  await admin1.set(`${inside}db1`, 'in-db1');
  await admin1.set(`${outside}db1`, 'out-db1');
}

/** What Redis answers when ACL rules refuse a command, a key or a SORT pattern, also inside a script. */
const REFUSED = /NOPERM|can't run this command|can't access at least one of the keys|denied due to insufficient ACL permissions/;

async function assertRefused(client: Redis, args: string[]): Promise<void> {
  let answer: unknown;
  try {
    answer = await client.call(args[0]!, ...args.slice(1));
  } catch (err) {
    assert.match((err as Error).message, REFUSED, args.join(' '));
    return;
  }
  assert.fail(`${args.join(' ')} was not refused; it answered ${JSON.stringify(answer).slice(0, 300)}`);
}

/**
 * Every command known to tell key names or key counts without naming a key; none is
 * destructive. (DEBUG, which Redis 7 refuses to every client unless enable-debug-command is
 * set, is checked with ACL DRYRUN in the class test, as are FLUSHALL, SWAPDB, MONITOR, SYNC.)
 */
const ENUMERATING: string[][] = [
  ['SCAN', '0', 'COUNT', '1000'],
  ['SCAN', '0', 'MATCH', '*', 'TYPE', 'string'],
  ['KEYS', '*'],
  ['RANDOMKEY'],
  ['DBSIZE'],
  ['INFO', 'keyspace'],
  ['INFO'],
  ['MEMORY', 'STATS'],
  ['MEMORY', 'DOCTOR'],
  ['MEMORY', 'MALLOC-STATS'],
  ['SORT', `${inside}list`, 'BY', 'nosort', 'GET', '*'],
  ['SORT', `${inside}list`, 'BY', `${outside}*`],
  ['SORT_RO', `${inside}list`, 'GET', `${outside}*`],
  ['EVAL', "return redis.call('SCAN','0')", '0'],
  ['EVAL', "return redis.call('KEYS','*')", '0'],
  ['EVAL', "return redis.call('RANDOMKEY')", '0'],
  ['EVAL', "return redis.call('DBSIZE')", '0'],
  ['EVAL', "return redis.call('INFO','keyspace')", '0'],
  ['EVAL', `return redis.call('GET','${outside}s')`, '0'],
  ['CLIENT', 'TRACKING', 'on', 'BCAST'],
  ['CLIENT', 'LIST'],
  ['PUBSUB', 'CHANNELS'],
  ['PUBSUB', 'NUMSUB', `__keyspace@0__:${outside}s`],
  ['ACL', 'LOG'],
  ['ACL', 'LIST'],
  ['ACL', 'USERS'],
  ['ACL', 'GETUSER', 'default'],
  ['SLOWLOG', 'GET'],
  ['LATENCY', 'LATEST'],
  ['CONFIG', 'GET', 'notify-keyspace-events'],
  ['FUNCTION', 'STATS'],
  ['CLUSTER', 'COUNTKEYSINSLOT', '0'],
  ['CLUSTER', 'GETKEYSINSLOT', '0', '10'],
];

async function assertReadsOnlyInside(client: Redis): Promise<void> {
  assert.equal(await client.get(`${inside}s`), 'in');
  assert.deepEqual(await client.hgetall(`${inside}h`), { f: 'in' });
  assert.equal(await client.type(`${inside}h`), 'hash');
  assert.equal(await client.ttl(`${inside}s`), -1);
  assert.equal(await client.exists(`${inside}s`, `${inside}h`, `${inside}none`), 2);
  for (const args of [['GET', `${outside}s`], ['HGETALL', `${outside}h`], ['TYPE', `${outside}s`], ['TTL', `${outside}s`], ['EXISTS', `${outside}s`], ['EXISTS', `${inside}s`, `${outside}s`], ['OBJECT', 'ENCODING', `${outside}s`], ['MEMORY', 'USAGE', `${outside}s`]]) {
    await assertRefused(client, args);
  }
}

for (const permission of ['read', 'write', 'wide']) {
  test(`${permission}: every key-enumerating command is refused to a logged-in grant; inside the prefix it reads (and writes), outside it does neither`, async () => {
    await seed();
    const { client } = await grant(permission);
    for (const args of ENUMERATING) await assertRefused(client, args);
    await assertReadsOnlyInside(client);
    if (permission === 'read') {
      await assertRefused(client, ['SET', `${inside}s`, 'changed']);
    } else {
      assert.equal(await client.set(`${inside}w`, 'written'), 'OK');
      for (const args of [['SET', `${outside}w`, 'x'], ['DEL', `${outside}s`], ['RENAME', `${inside}w`, `${outside}w`], ['COPY', `${outside}s`, `${inside}copy`]]) await assertRefused(client, args);
    }
    assert.equal(await admin.get(`${outside}s`), 'out');
    if (permission !== 'wide') await assertRefused(client, ['SELECT', '1']);
  });
}

test('SELECT, where a permission allows it: the prefix is the same in every database, and nothing else is told there either', async () => {
  await seed();
  const { client } = await grant('selectable');
  assert.equal(await client.call('SELECT', '1'), 'OK');
  assert.equal(await client.get(`${inside}db1`), 'in-db1');
  await assertRefused(client, ['GET', `${outside}db1`]);
  for (const args of [['SCAN', '0', 'COUNT', '1000'], ['KEYS', '*'], ['RANDOMKEY'], ['DBSIZE'], ['INFO', 'keyspace']]) await assertRefused(client, args);
});

interface KeylessCommand {
  /** `scan`, or `memory|stats` for a subcommand. */
  name: string;
  arity: number;
  categories: string[];
}

/** Every command and subcommand of the server that has no key argument (no key specs). */
async function keylessCommands(): Promise<KeylessCommand[]> {
  const out: KeylessCommand[] = [];
  const walk = (info: unknown[]): void => {
    const [name, arity, , , , , categories, , keySpecs, subcommands] = info as [string, number, unknown, unknown, unknown, unknown, string[], unknown, unknown[], unknown[][]];
    if (subcommands?.length) {
      for (const sub of subcommands) walk(sub);
      return;
    }
    if ((keySpecs ?? []).length === 0) out.push({ name: name.toLowerCase(), arity, categories: categories.map((c) => c.replace(/^@/, '')) });
  };
  for (const info of (await admin.call('COMMAND')) as unknown[][]) walk(info);
  return out;
}

// Keyless commands that tell nothing about keys, names or counts, so a grant may have them
// (whether it does depends on its permission's command rules). Everything else without a
// key argument must be refused to every grant.
const HARMLESS_KEYLESS = new Set([
  // The connection itself.
  'auth', 'hello', 'ping', 'echo', 'quit', 'reset', 'acl|whoami', 'acl|cat', 'acl|genpass',
  'client|caching', 'client|getname', 'client|getredir', 'client|id', 'client|info', 'client|reply', 'client|setname', 'client|trackinginfo',
  // Another database: the key rules are the same there (see the SELECT test).
  'select',
  // Cluster routing and topology, no key (COUNTKEYSINSLOT and GETKEYSINSLOT are refused).
  'asking', 'readonly', 'readwrite', 'cluster|info', 'cluster|keyslot', 'cluster|links', 'cluster|myid', 'cluster|nodes', 'cluster|shards', 'cluster|slots',
  // The server's command table, and how it would read the keys of a command line it is given.
  'command|count', 'command|docs', 'command|getkeys', 'command|getkeysandflags', 'command|info', 'command|list',
  // Transactions: each queued command is checked on its own.
  'multi', 'exec', 'discard', 'unwatch',
  // Pub/sub: every channel is checked against the channel rules, which allow the ownership
  // marker only (keyspace notifications, which name keys, are channels too).
  'subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe', 'publish',
  // Scripts and functions: each call they make is checked as if the client made it. None of
  // these tells a key (FUNCTION STATS, which shows a running call's arguments, is refused);
  // FUNCTION FLUSH and the like change the whole server, which @write includes (README).
  'script|debug', 'script|exists', 'script|flush', 'script|kill', 'script|load',
  'function|delete', 'function|dump', 'function|flush', 'function|kill', 'function|list', 'function|load', 'function|restore',
  // Nothing about the data set.
  'time', 'lolwut', 'wait', 'memory|purge',
]);

/** Fixed texts: `<command> HELP`. */
const isHelp = (name: string): boolean => name.endsWith('|help');

test('every keyless command the server knows is refused to read, write and the widest grant, but for the harmless ones', async () => {
  const keyless = await keylessCommands();
  const names = new Set(keyless.map((c) => c.name));
  for (const name of HARMLESS_KEYLESS) assert.ok(names.has(name), `the allow-list names "${name}", which this server does not have`);
  for (const c of keyless) {
    if (!HARMLESS_KEYLESS.has(c.name) && !isHelp(c.name)) continue;
    assert.ok(!c.categories.some((cat) => cat === 'dangerous' || cat === 'admin'), `${c.name} (@${c.categories.join(' @')}) is allow-listed`);
    // A keyless @keyspace command is the class itself; OBJECT HELP, a fixed text, is the exception.
    assert.ok(!c.categories.includes('keyspace') || c.name === 'object|help', `${c.name} (@keyspace) is allow-listed`);
  }
  // At least these classes must be among the ones checked (a parser change would hide them).
  for (const name of ['keys', 'scan', 'randomkey', 'dbsize', 'info', 'flushall', 'swapdb', 'memory|stats', 'acl|log', 'monitor', 'sync', 'client|list', 'client|tracking', 'pubsub|channels']) {
    assert.ok(names.has(name) && !HARMLESS_KEYLESS.has(name), name);
  }

  await seed();
  for (const permission of ['read', 'write', 'wide']) {
    const { user } = await grant(permission);
    const allowed: string[] = [];
    for (const c of keyless) {
      if (HARMLESS_KEYLESS.has(c.name) || isHelp(c.name)) continue;
      // Enough arguments for the arity; none of them is a key.
      const args = c.name.split('|');
      while (args.length < Math.abs(c.arity)) args.push('0');
      const answer = String(await admin.call('ACL', 'DRYRUN', user, ...args));
      if (!/no permissions to run/.test(answer)) allowed.push(`${c.name} (@${c.categories.join(' @')}): ${answer}`);
    }
    assert.deepEqual(allowed, [], `${permission}: keyless commands a grant may run`);
    // Keyspace notifications name keys; the channel rules keep them out, also where a
    // permission allows SUBSCRIBE and PSUBSCRIBE.
    for (const args of [['PSUBSCRIBE', '__key*__:*'], ['SUBSCRIBE', `__keyspace@0__:${outside}s`], ['SUBSCRIBE', '__keyevent@0__:set']]) {
      assert.match(String(await admin.call('ACL', 'DRYRUN', user, ...args)), /no permissions to (run|access)/, `${permission}: ${args.join(' ')}`);
    }
  }
});

test('the denials end every grant\'s rules; a rule that asks for a denied command is refused at load, where it is written, and at grant', () => {
  const rules = aclRules('pw', [ent(inside, 'read')], { read: { keys: 'read', commands: ['+@all'] } });
  assert.deepEqual(rules.slice(-REDIS_DENIED_RULES.length), [...REDIS_DENIED_RULES]);
  assert.ok(REDIS_DENIED_RULES.includes('-@admin') && REDIS_DENIED_RULES.includes('-scan'));
  assert.throws(() => aclRules('pw', [ent(inside, 'read')], { read: { keys: 'read', commands: ['+@read', '+scan'] } }), /permission "read": "\+scan" asks for SCAN, which every grant is refused \(it lists key names\)/);

  const parsed = parseConfig(`integrations:
  - id: cache
    type: redis
    connection:
      permissions:
        read: { keys: read, commands: ["+@read", "+@keyspace", "+@all", "-scan", "+memory|usage", "+constructor"] }
        write: { keys: readwrite, commands: ["+scan", "+memory|stats", "+pubsub|channels", "+@admin", "+CLIENT|tracking"] }
`, 'lapse.yaml');
  assert.equal(parsed.ok, false);
  assert.deepEqual(formatConfigErrors(parsed.ok ? [] : parsed.errors).split('\n'), [
    'lapse.yaml:7:46: integrations[0].connection.permissions.write.commands[0]: "+scan" asks for SCAN, which every grant is refused (it lists key names); remove the rule',
    'lapse.yaml:7:55: integrations[0].connection.permissions.write.commands[1]: "+memory|stats" asks for MEMORY STATS, which every grant is refused (it counts keys); remove the rule',
    'lapse.yaml:7:72: integrations[0].connection.permissions.write.commands[2]: "+pubsub|channels" asks for PUBSUB, which every grant is refused (it lists channels, and keyspace notification channels name keys); remove the rule',
    'lapse.yaml:7:92: integrations[0].connection.permissions.write.commands[3]: "+@admin" asks for @admin, which every grant is refused (server administration: ACL LOG, SLOWLOG, MONITOR, DEBUG, SYNC and the like reveal any key); remove the rule',
    'lapse.yaml:7:103: integrations[0].connection.permissions.write.commands[4]: expected an ACL command rule such as "+@read", "-@dangerous", "+get" or "-client|kill"; got "+CLIENT|tracking"',
  ]);
});
