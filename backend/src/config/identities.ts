// The `identities` section: users (with their attributes and MFA secret), groups and
// on-call shifts.

import type { GroupConfig, MfaConfig, ShiftConfig, UserConfig } from '../domain/config.ts';
import { declareId, optionalList, userRef, type Reader } from './yaml-reader.ts';

/** Condition attributes with a built-in meaning; a custom user attribute may not take these names. */
export const BUILT_IN_ATTRIBUTES = ['user', 'email', 'group', 'manager', 'shift', 'owner'];

export function readIdentities(r: Reader, node: unknown, path: string): { users: UserConfig[]; groups: GroupConfig[]; shifts: ShiftConfig[] } {
  const f = r.map(node, path, ['users?', 'groups?', 'shifts?']);
  if (f === undefined) return { users: [], groups: [], shifts: [] };
  return {
    users: optionalList(r, f, 'users', (n, p) => readUser(r, n, p)),
    groups: optionalList(r, f, 'groups', (n, p) => readGroup(r, n, p)),
    shifts: optionalList(r, f, 'shifts', (n, p) => readShift(r, n, p)),
  };
}

const EMAIL_PATTERN = /^[^@\s]+@[^@\s]+$/;

function readUser(r: Reader, node: unknown, path: string): UserConfig | undefined {
  const f = r.map(node, path, ['id', 'email', 'name?', 'groups?', 'manager?', 'attributes?', 'mfa?'], 'a user map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'user');
  let email = f.has('email') ? r.name(f.get('email'), f.at('email'), 'an email address') : undefined;
  if (email !== undefined && !EMAIL_PATTERN.test(email)) email = r.error(f.get('email'), f.at('email'), `expected an email address; got ${JSON.stringify(email)}`);
  const name = f.has('name') ? r.name(f.get('name'), f.at('name')) : id;
  // A user's groups need no declaration: listing them is what makes them exist.
  const groups = f.has('groups')
    ? r.list(f.get('groups'), f.at('groups'), (n, p) => {
        const group = r.id(n, p);
        if (group !== undefined) r.listGroup(group);
        return group;
      })
    : [];
  const manager = f.has('manager') ? userRef(r, f.get('manager'), f.at('manager')) : undefined;
  const attributes = f.has('attributes') ? readAttributes(r, f.get('attributes'), f.at('attributes')) : {};
  const mfa = f.has('mfa') ? readMfa(r, f.get('mfa'), f.at('mfa')) : undefined;
  if (id === undefined || email === undefined || name === undefined || groups === undefined || attributes === undefined) return undefined;
  if (f.has('manager') && manager === undefined) return undefined;
  if (f.has('mfa') && mfa === undefined) return undefined;
  const user: UserConfig = { id, email, name, groups: [...new Set(groups)], attributes };
  if (manager !== undefined) user.manager = manager;
  if (mfa !== undefined) user.mfa = mfa;
  return user;
}

function readAttributes(r: Reader, node: unknown, path: string): Record<string, string | string[]> | undefined {
  let ok = true;
  const attributes = r.dict(node, path, (n, p, key, keyNode) => {
    if (BUILT_IN_ATTRIBUTES.includes(key)) {
      ok = false;
      return r.error(keyNode, p, `"${key}" is a built-in attribute (${BUILT_IN_ATTRIBUTES.join(', ')}); give the custom attribute another name`);
    }
    const value = r.isSeq(n) ? r.list(n, p, (item, itemPath) => r.text(item, itemPath)) : r.text(n, p);
    if (value === undefined) ok = false;
    return value;
  });
  return ok ? attributes : undefined;
}

function readMfa(r: Reader, node: unknown, path: string): MfaConfig | undefined {
  const f = r.map(node, path, ['totpSecretEnv?', 'totpSecretFile?']);
  if (f === undefined) return undefined;
  if (!f.has('totpSecretEnv') && !f.has('totpSecretFile')) {
    return r.error(node, path, 'expected totpSecretEnv (an environment variable) or totpSecretFile (a file path) holding the base32 TOTP secret');
  }
  const mfa: MfaConfig = {};
  if (f.has('totpSecretEnv')) mfa.totpSecretEnv = r.name(f.get('totpSecretEnv'), f.at('totpSecretEnv'));
  if (f.has('totpSecretFile')) mfa.totpSecretFile = r.name(f.get('totpSecretFile'), f.at('totpSecretFile'));
  if ((f.has('totpSecretEnv') && mfa.totpSecretEnv === undefined) || (f.has('totpSecretFile') && mfa.totpSecretFile === undefined)) return undefined;
  return mfa;
}

function readGroup(r: Reader, node: unknown, path: string): GroupConfig | undefined {
  const f = r.map(node, path, ['id', 'name?'], 'a group map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'group');
  const name = f.has('name') ? r.name(f.get('name'), f.at('name')) : id;
  return id === undefined || name === undefined ? undefined : { id, name };
}

function readShift(r: Reader, node: unknown, path: string): ShiftConfig | undefined {
  const f = r.map(node, path, ['id', 'timezone', 'rotation', 'handoff', 'members', 'anchor'], 'a shift map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'shift');
  const timezone = f.has('timezone') ? r.timeZone(f.get('timezone'), f.at('timezone')) : undefined;
  const rotation = f.has('rotation') ? r.oneOf(f.get('rotation'), f.at('rotation'), ['daily', 'weekly'] as const) : undefined;
  const handoff = f.has('handoff') ? r.timeOfDay(f.get('handoff'), f.at('handoff')) : undefined;
  const members = f.has('members') ? r.list(f.get('members'), f.at('members'), (n, p) => userRef(r, n, p), { nonEmpty: true }) : undefined;
  const anchor = f.has('anchor') ? r.date(f.get('anchor'), f.at('anchor')) : undefined;
  if (id === undefined || timezone === undefined || rotation === undefined || handoff === undefined || members === undefined || anchor === undefined) return undefined;
  return { id, timezone, rotation, handoff, members, anchor };
}
