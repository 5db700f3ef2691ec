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
  write: { keys: 'readwrite', commands: ['+@read', '+@write', '-@dangerous'] },
};

/** An ACL command rule and nothing else (no key pattern, password, `on`, `nopass`, `allkeys`…). */
export const REDIS_COMMAND_RULE = /^[+-](@[a-z]+|[a-z][a-z0-9_-]*(\|[a-z][a-z0-9_-]*)?)$/;
