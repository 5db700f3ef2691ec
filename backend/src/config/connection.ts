// Validation of each integration type's `connection` map (integrations.ts calls it). Every
// key is checked where it is written, so a mistake is reported as file:line:col with its
// path. Secrets are never inline (integrations.ts refuses those first): a connection names an
// environment variable (`passwordEnv`, `secretEnv`) or a file (`passwordFile`, `secretFile`),
// read when the integration is created (integrations/credentials.ts).
//
//   postgresql  host (required), port 5432, user (required), passwordEnv | passwordFile,
//               database "postgres", accessHost, accessPort, rolePrefix "lapse_",
//               permissions { <permission>: { database|schema|table|sequence: [privileges] } },
//               ssl false, connectTimeoutMs 5000, statementTimeoutMs 15000, discoverDatabases
//   mysql       host (required), port 3306, user (required), passwordEnv | passwordFile,
//               accessHost, accessPort, userHost "%", rolePrefix "lapse_",
//               bookkeepingDatabase "lapse", permissions { <permission>: [privileges] },
//               connectTimeoutMs 5000, discoverDatabases
//   redis       host 127.0.0.1, port 6379, user, passwordEnv | passwordFile, rolePrefix
//               "lapse_", accessHost, accessPort, timeoutMs 5000,
//               permissions { <permission>: { keys: read|write|readwrite, commands: [rules] } }
//   webhook     url (required, http or https), secretEnv | secretFile (required), timeoutMs 10000
//   command     path (required, absolute), args [], env {}, secretEnv | secretFile,
//               timeoutMs 30000, list false, listResources false
//   demo        faultsFile, recordFile

import { isAbsolute } from 'node:path';
import type { IntegrationType, ResourceTypeConfig } from '../domain/config.ts';
import { DEFAULT_REDIS_PERMISSIONS, REDIS_COMMAND_RULE, redisCommandRuleProblem } from '../integrations/redis-permissions.ts';
import { ACCOUNT_PREFIX_PATTERN } from '../integrations/account-name.ts';
import type { Fields, Reader } from './yaml-reader.ts';

type Check = (r: Reader, node: unknown, path: string) => unknown;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST = /^[A-Za-z0-9._-]+$|^\[?[0-9A-Fa-f:.]+\]?$/;

const host: Check = (r, n, p) => {
  const s = r.name(n, p, 'a host name or IP address');
  if (s !== undefined && !HOST.test(s)) return r.error(n, p, `expected a host name or IP address; got ${JSON.stringify(s)}`);
  return s;
};
const port: Check = (r, n, p) => {
  const v = r.int(n, p, 1);
  if (v !== undefined && v > 65535) return r.error(n, p, `expected a port number from 1 to 65535; got ${v}`);
  return v;
};
const millis: Check = (r, n, p) => {
  const v = r.int(n, p, 1);
  if (v !== undefined && v > 3_600_000) return r.error(n, p, `expected milliseconds, at most 3600000 (1 h); got ${v}`);
  return v;
};
const name: Check = (r, n, p) => r.name(n, p);
const bool: Check = (r, n, p) => r.bool(n, p);
const envName: Check = (r, n, p) => {
  const s = r.name(n, p, 'the name of an environment variable');
  if (s !== undefined && !ENV_NAME.test(s)) return r.error(n, p, `expected the name of an environment variable (letters, digits, "_"); got ${JSON.stringify(s)}`);
  return s;
};
const filePath: Check = (r, n, p) => r.name(n, p, 'a file path');
const rolePrefix: Check = (r, n, p) => {
  const s = r.name(n, p, 'a prefix');
  if (s !== undefined && !ACCOUNT_PREFIX_PATTERN.test(s)) {
    return r.error(n, p, `expected 1-16 lower-case letters, digits or underscores, not starting with a digit; got ${JSON.stringify(s)}`);
  }
  return s;
};
const url: Check = (r, n, p) => {
  const s = r.name(n, p, 'an http or https URL');
  if (s === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(s);
  } catch {
    return r.error(n, p, `expected an http or https URL; got ${JSON.stringify(s)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return r.error(n, p, `expected an http or https URL; got the scheme "${parsed.protocol.slice(0, -1)}"`);
  if (parsed.username !== '' || parsed.password !== '') return r.error(n, p, 'the URL holds credentials; give the signing key by reference (secretEnv or secretFile)');
  return s;
};
const absolutePath: Check = (r, n, p) => {
  const s = r.name(n, p, 'an absolute path to an executable');
  if (s !== undefined && !isAbsolute(s)) return r.error(n, p, `expected an absolute path to an executable (no search in PATH, no shell); got ${JSON.stringify(s)}`);
  return s;
};
const stringList: Check = (r, n, p) => r.list(n, p, (item, itemPath) => r.str(item, itemPath));
const envMap: Check = (r, n, p) =>
  r.dict(n, p, (value, valuePath, key, keyNode) => {
    if (!ENV_NAME.test(key)) return r.error(keyNode, valuePath, `expected the name of an environment variable (letters, digits, "_"); got ${JSON.stringify(key)}`);
    if (key.startsWith('LAPSE_')) return r.error(keyNode, valuePath, `names starting with LAPSE_ are reserved; got ${JSON.stringify(key)}`);
    return r.text(value, valuePath);
  });
const privilegeList: Check = (r, n, p) =>
  r.list(n, p, (item, itemPath) => {
    const s = r.name(item, itemPath, 'a privilege');
    if (s !== undefined && !/^[A-Za-z][A-Za-z ]*$/.test(s)) return r.error(item, itemPath, `expected a privilege name such as SELECT; got ${JSON.stringify(s)}`);
    return s?.toUpperCase();
  });
const pgPermissions: Check = (r, n, p) =>
  r.dict(n, p, (value, valuePath) => {
    const f = r.map(value, valuePath, ['database?', 'schema?', 'table?', 'sequence?'], 'a map of privilege lists by level (database, schema, table, sequence)');
    if (f === undefined) return undefined;
    for (const level of ['database', 'schema', 'table', 'sequence']) if (f.has(level)) privilegeList(r, f.get(level), f.at(level));
    return true;
  });
const mysqlPermissions: Check = (r, n, p) => r.dict(n, p, (value, valuePath) => privilegeList(r, value, valuePath));
const redisPermissions: Check = (r, n, p) =>
  r.dict(n, p, (value, valuePath) => {
    const f = r.map(value, valuePath, ['keys', 'commands'], 'a map { keys: read | write | readwrite, commands: [ACL command rules] }');
    if (f === undefined) return undefined;
    if (f.has('keys')) r.oneOf(f.get('keys'), f.at('keys'), ['read', 'write', 'readwrite'] as const);
    if (f.has('commands')) {
      r.list(f.get('commands'), f.at('commands'), (item, itemPath) => {
        const s = r.name(item, itemPath, 'an ACL command rule');
        if (s !== undefined && !REDIS_COMMAND_RULE.test(s)) {
          return r.error(item, itemPath, `expected an ACL command rule such as "+@read", "-@dangerous", "+get" or "-client|kill"; got ${JSON.stringify(s)}`);
        }
        // What every grant is refused (its denial ends every grant's rules): asking for it would do nothing.
        const problem = s === undefined ? undefined : redisCommandRuleProblem(s);
        if (problem) return r.error(item, itemPath, problem);
        return s;
      });
    }
    return true;
  });

interface ConnectionSpec {
  /** Keys and their checks; "key?" is optional. */
  keys: Record<string, Check>;
  /** Secret references: `<name>Env` / `<name>File`, at most one of the two; required if so marked. */
  secret?: { name: 'password' | 'secret'; required: boolean };
}

const SQL_COMMON: Record<string, Check> = {
  'host': host, 'port?': port, 'user': name, 'accessHost?': host, 'accessPort?': port, 'rolePrefix?': rolePrefix, 'connectTimeoutMs?': millis,
  'discoverDatabases?': (r, n, p) => r.list(n, p, (item, itemPath) => r.name(item, itemPath, 'a database name'), { nonEmpty: true }),
};

const SPECS: Record<IntegrationType, ConnectionSpec> = {
  demo: { keys: { 'faultsFile?': filePath, 'recordFile?': filePath } },
  postgresql: {
    keys: { ...SQL_COMMON, 'database?': name, 'permissions?': pgPermissions, 'ssl?': bool, 'statementTimeoutMs?': millis },
    secret: { name: 'password', required: false },
  },
  mysql: {
    keys: { ...SQL_COMMON, 'userHost?': name, 'bookkeepingDatabase?': name, 'permissions?': mysqlPermissions },
    secret: { name: 'password', required: false },
  },
  redis: {
    keys: { 'host?': host, 'port?': port, 'user?': name, 'accessHost?': host, 'accessPort?': port, 'rolePrefix?': rolePrefix, 'timeoutMs?': millis, 'permissions?': redisPermissions },
    secret: { name: 'password', required: false },
  },
  webhook: { keys: { 'url': url, 'timeoutMs?': millis }, secret: { name: 'secret', required: true } },
  command: {
    keys: { 'path': absolutePath, 'args?': stringList, 'env?': envMap, 'timeoutMs?': millis, 'list?': bool, 'listResources?': bool },
    secret: { name: 'secret', required: false },
  },
};

/**
 * Checks a connection map of `type`; returns whether it is valid (errors are recorded on
 * the reader). `resourceTypes`: the integration's resource types, for checks that span both.
 */
export function checkConnection(r: Reader, type: IntegrationType, node: unknown, path: string, resourceTypes: Record<string, ResourceTypeConfig> | undefined): boolean {
  const spec = SPECS[type];
  const secretKeys = spec.secret ? [`${spec.secret.name}Env?`, `${spec.secret.name}File?`] : [];
  const before = r.errorCount();
  const f: Fields | undefined = r.map(node, path, [...Object.keys(spec.keys), ...secretKeys], `the connection of a ${type} integration`);
  if (f === undefined) return false;
  for (const [key, check] of Object.entries(spec.keys)) {
    const k = key.replace(/\?$/, '');
    if (f.has(k)) check(r, f.get(k), f.at(k));
  }
  if (spec.secret) {
    const env = `${spec.secret.name}Env`;
    const file = `${spec.secret.name}File`;
    if (f.has(env) && f.has(file)) r.error(f.get(file), f.at(file), `give the ${spec.secret.name} either by ${env} or by ${file}, not both`);
    else if (f.has(env)) envName(r, f.get(env), f.at(env));
    else if (f.has(file)) filePath(r, f.get(file), f.at(file));
    else if (spec.secret.required) r.error(node, path, `missing ${env} (an environment variable) or ${file} (a file path) holding the ${type === 'webhook' ? 'HMAC signing key' : spec.secret.name}`);
  }
  if (type === 'redis' && resourceTypes !== undefined) {
    // Every permission the integration offers needs ACL rules.
    const configured = f.has('permissions') ? redisPermissionNames(r, f.get('permissions')) : Object.keys(DEFAULT_REDIS_PERMISSIONS);
    for (const [resourceType, t] of Object.entries(resourceTypes)) {
      for (const permission of t.permissions) {
        if (!configured.includes(permission)) {
          r.error(node, path, `the redis integration offers permission "${permission}" on ${resourceType} but connection.permissions has no ACL rules for it; configured: ${configured.join(', ')}`);
        }
      }
    }
  }
  return r.errorCount() === before;
}

function redisPermissionNames(r: Reader, node: unknown): string[] {
  return r.keysOf(node);
}

/** The keys a connection of `type` must have (for the error when `connection` is left out). */
export function requiredConnectionKeys(type: IntegrationType): string[] {
  const spec = SPECS[type];
  const keys = Object.keys(spec.keys).filter((k) => !k.endsWith('?'));
  if (spec.secret?.required) keys.push(`${spec.secret.name}Env or ${spec.secret.name}File`);
  return keys;
}

/** Resource names an integration type cannot take: a Redis key prefix goes into an ACL rule. */
export function resourceNameProblem(type: IntegrationType): ((name: string) => string | undefined) | undefined {
  if (type !== 'redis') return undefined;
  return (name) => (/[\s\p{Cc}]/u.test(name) ? `expected a key prefix without white space or control characters (an ACL rule cannot hold them); got ${JSON.stringify(name)}` : undefined);
}
