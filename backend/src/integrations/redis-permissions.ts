// What a permission of the `redis` integration means (see redis.ts): apart from the client,
// so that checking a configuration does not load the Redis driver.

export type RedisKeyAccess = 'read' | 'write' | 'readwrite';

export interface RedisPermissionRules {
  keys: RedisKeyAccess;
  /** ACL command rules: `+@category`, `-@category`, `+command`, `-command`, `+command|sub`. */
  commands: string[];
}

export const DEFAULT_REDIS_PERMISSIONS: Readonly<Record<string, RedisPermissionRules>> = {
  read: { keys: 'read', commands: ['+@read', '-@dangerous'] },
  // FUNCTION LOAD, DELETE, FLUSH and RESTORE are @write: they change the server's function
  // libraries, which no key prefix bounds.
  write: { keys: 'readwrite', commands: ['+@read', '+@write', '-@dangerous', '-function'] },
};

/** An ACL command rule and nothing else (no key pattern, password, `on`, `nopass`, `allkeys`…). */
export const REDIS_COMMAND_RULE = /^[+-](@[a-z]+|[a-z][a-z0-9_-]*(\|[a-z][a-z0-9_-]*)?)$/;

/**
 * What every grant is refused, whatever its permission says, and why: the commands that tell
 * key names or key counts without naming a key (ACL key patterns cannot hold them back), and
 * the administration of the server. Their denials end every grant's rules, after the
 * permission's own, so that no category (`+@read`, `+@keyspace`, `+@all`) brings one back;
 * a rule that asks for one by name is refused (redisCommandRuleProblem). The redis-keyspace
 * tests ask the server for every command without a key argument and check that a grant is
 * refused each one not known to be harmless, so a command a newer Redis adds shows up there.
 */
export const REDIS_DENIED_COMMANDS: Readonly<Record<string, string>> = {
  '@admin': 'server administration: ACL LOG, SLOWLOG, MONITOR, DEBUG, SYNC and the like reveal any key',
  'keys': 'it lists key names',
  'scan': 'it lists key names',
  'randomkey': 'it tells a key name',
  'dbsize': 'it counts keys',
  'info': 'its keyspace section counts keys',
  'memory|stats': 'it counts keys',
  'memory|doctor': 'it reports on the whole data set',
  'memory|malloc-stats': 'it reports on the whole data set',
  'flushall': 'it acts on every key',
  'flushdb': 'it acts on every key of a database',
  'swapdb': 'it acts on every key of two databases',
  'client|tracking': 'in broadcast mode it tells the name of every key written',
  'pubsub': 'it lists channels, and keyspace notification channels name keys',
  'function|stats': 'it shows the arguments of a running function call, keys included',
  'cluster|countkeysinslot': 'it counts keys',
  'cluster|getkeysinslot': 'it lists key names',
};

/** The rules every grant ends with. */
export const REDIS_DENIED_RULES: readonly string[] = Object.keys(REDIS_DENIED_COMMANDS).map((c) => `-${c}`);

/**
 * Why an ACL command rule may not be configured, or undefined: a `+` rule naming a command,
 * subcommand or category that every grant is refused (see REDIS_DENIED_COMMANDS). The rule
 * would have no effect; refusing it says so where it is written.
 */
export function redisCommandRuleProblem(rule: string): string | undefined {
  if (!rule.startsWith('+')) return undefined;
  const name = rule.slice(1);
  const denied = [name, name.split('|')[0]!].find((n) => Object.hasOwn(REDIS_DENIED_COMMANDS, n));
  if (denied === undefined) return undefined;
  const why = REDIS_DENIED_COMMANDS[denied]!;
  const shown = denied.startsWith('@') ? denied : denied.toUpperCase().replace('|', ' ');
  return `${JSON.stringify(rule)} asks for ${shown}, which every grant is refused (${why}); remove the rule`;
}
