// Every IPC call from the renderer is checked here before main acts on it: the channel
// must name a method of the renderer's API, and the arguments must have that method's
// shape (no extra fields, bounded sizes). The server validates meaning; this keeps a
// compromised renderer from sending anything main does not expect.

import { LAPSE_CALL_CHANNEL_PREFIX, isLapseApiMethod, type LapseApiMethod } from '../../common/lapse-api.ts';
import { REQUEST_STATUSES } from '../../common/request-status.ts';

export class IpcPayloadError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'IpcPayloadError';
  }
}

type Check = (value: unknown, path: string) => void;

const fail = (path: string, message: string): never => {
  throw new IpcPayloadError(path, message);
};
const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v);

const str = (max: number, pattern?: RegExp, what?: string): Check => (v, path) => {
  if (typeof v !== 'string') fail(path, `must be text, got ${describe(v)}`);
  if ((v as string).length > max) fail(path, `must be at most ${max} characters`);
  if (pattern && !pattern.test(v as string)) fail(path, `must be ${what ?? `like ${pattern}`}`);
};
const bool: Check = (v, path) => {
  if (typeof v !== 'boolean') fail(path, `must be true or false, got ${describe(v)}`);
};
const int = (min: number, max: number): Check => (v, path) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `must be a whole number from ${min} to ${max}`);
};
const list = (item: Check, max: number): Check => (v, path) => {
  if (!Array.isArray(v)) fail(path, `must be a list, got ${describe(v)}`);
  if ((v as unknown[]).length > max) fail(path, `must have at most ${max} items`);
  (v as unknown[]).forEach((x, i) => item(x, `${path}[${i}]`));
};
/** A plain object (what IPC's structured clone makes) or one without a prototype; nothing with behaviour. */
const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};
/** Own fields only: a name every object inherits (`constructor`, `toString`, `__proto__`) is not a field. */
const own = (o: Record<string, unknown>, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);
const obj = (fields: Record<string, Check>, required: string[] = []): Check => (v, path) => {
  if (!isPlainObject(v)) fail(path, describe(v) === 'object' ? 'must be a plain object' : `must be an object, got ${describe(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!Object.hasOwn(fields, k)) fail(`${path}.${k}`, 'is not expected');
  for (const k of required) if (own(o, k) === undefined) fail(`${path}.${k}`, 'is required');
  for (const [k, check] of Object.entries(fields)) if (own(o, k) !== undefined) check(o[k], `${path}.${k}`);
};

const ID = str(128, /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'an id (letters, digits, _ . : -)');
const NAME = str(200);
const TEXT = str(2000);
const DURATION = str(32, /^(indefinite|(\d+[smhdw])+)$/, 'a duration such as 30m, 1h30m or 2d');
const ISO_TIME = str(40, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/, 'an ISO 8601 date-time');
const MFA = str(16, /^\d{6,8}$/, '6 to 8 digits');
const STATUSES: readonly string[] = REQUEST_STATUSES;
const STATUS: Check = (v, path) => {
  if (typeof v !== 'string' || !STATUSES.includes(v)) fail(path, `must be one of ${STATUSES.join(', ')}`);
};
const ENTITLEMENT = obj({ integration: ID, resourceType: NAME, resource: str(1000), permission: NAME }, ['integration', 'resourceType', 'resource', 'permission']);
const ENTITLEMENTS = list(ENTITLEMENT, 1000);

const NEW_REQUEST = obj({ flowId: ID, entitlements: ENTITLEMENTS, bundleId: ID, duration: DURATION, justification: TEXT, startAt: ISO_TIME, mfaCode: MFA, breakGlass: bool }, ['flowId']);
const NEW_FAVORITE = obj({ name: NAME, flowId: ID, bundleId: ID, entitlements: ENTITLEMENTS, duration: DURATION, justification: TEXT, fromRequestId: ID }, ['name']);
const FAVORITE_OPTIONS = obj({ justification: TEXT, mfaCode: MFA, startAt: ISO_TIME, duration: DURATION });
const LIST_QUERY = obj({ statuses: list(STATUS, STATUSES.length), limit: int(1, 1000) });
const SETTINGS_UPDATE = obj({ serverUrl: str(2048), extraReminderMinutes: list(int(1, 1440), 5), doNotDisturb: bool, launchAtLogin: bool, embedded: bool });
const REASON = str(1000);
const TOKEN = str(4096, /^\S+$/, 'a token without spaces');
const NEW_API_TOKEN = obj({ name: str(200, /^[\s\S]+$/, '1 to 200 characters'), expiresIn: str(40) }, ['name']);
const TOTP_CODE = str(6, /^\d{6}$/, '6 digits');
const FILTER_VALUE = str(200);
const ACTIVITY_FILTER_FIELDS = { user: FILTER_VALUE, flow: FILTER_VALUE, integration: FILTER_VALUE, label: FILTER_VALUE, action: FILTER_VALUE, since: ISO_TIME, until: ISO_TIME };
const ACTIVITY_FILTER = obj(ACTIVITY_FILTER_FIELDS);
const ACTIVITY_QUERY = obj({ ...ACTIVITY_FILTER_FIELDS, cursor: str(200, /^[A-Za-z0-9_-]*$/, 'a cursor the server gave'), limit: int(1, 1000) });

/** Per method: the checks of its positional arguments, and how many are required. */
const SIGNATURES: Record<LapseApiMethod, { args: Check[]; required: number }> = {
  me: { args: [], required: 0 },
  catalog: { args: [], required: 0 },
  listMyRequests: { args: [LIST_QUERY], required: 0 },
  getRequest: { args: [ID], required: 1 },
  createRequest: { args: [NEW_REQUEST], required: 1 },
  approve: { args: [ID, REASON], required: 1 },
  deny: { args: [ID, REASON], required: 1 },
  cancel: { args: [ID], required: 1 },
  revoke: { args: [ID, REASON], required: 1 },
  extend: { args: [ID, DURATION, TEXT, MFA], required: 2 },
  approvals: { args: [], required: 0 },
  accessDetails: { args: [ID], required: 1 },
  listFavorites: { args: [], required: 0 },
  createFavorite: { args: [NEW_FAVORITE], required: 1 },
  deleteFavorite: { args: [ID], required: 1 },
  requestFromFavorite: { args: [ID, FAVORITE_OPTIONS], required: 1 },
  listTokens: { args: [], required: 0 },
  createToken: { args: [NEW_API_TOKEN], required: 1 },
  revokeToken: { args: [ID], required: 1 },
  mfaStatus: { args: [], required: 0 },
  notificationPreferences: { args: [], required: 0 },
  setNotifications: { args: [obj({ email: bool, chat: bool })], required: 1 },
  startMfaEnrolment: { args: [], required: 0 },
  confirmMfaEnrolment: { args: [TOTP_CODE], required: 1 },
  removeMfa: { args: [TOTP_CODE], required: 0 },
  activity: { args: [ACTIVITY_QUERY], required: 1 },
  activityCsv: { args: [ACTIVITY_FILTER], required: 1 },
  requestTimeline: { args: [ID], required: 1 },
  integrations: { args: [], required: 0 },
  configStatus: { args: [], required: 0 },
  reloadConfig: { args: [], required: 0 },
  connectionState: { args: [], required: 0 },
  getSettings: { args: [], required: 0 },
  updateSettings: { args: [SETTINGS_UPDATE], required: 1 },
  setToken: { args: [TOKEN], required: 1 },
  clearToken: { args: [], required: 0 },
  signInWithSso: { args: [ID], required: 0 },
  ssoAvailable: { args: [], required: 0 },
};

/** The method a channel calls, or an error when the channel is not one of the API's. */
export function methodOfChannel(channel: unknown): LapseApiMethod {
  if (typeof channel !== 'string' || !channel.startsWith(LAPSE_CALL_CHANNEL_PREFIX)) throw new IpcPayloadError('channel', `"${String(channel)}" is not a Lapse API channel`);
  const method = channel.slice(LAPSE_CALL_CHANNEL_PREFIX.length);
  if (!isLapseApiMethod(method)) throw new IpcPayloadError('channel', `"${method}" is not a method of the Lapse API`);
  return method;
}

/**
 * Checks the method and the arguments of one call, whatever they are (the method is checked
 * here too, not only by methodOfChannel); throws an IpcPayloadError naming what is at fault.
 */
export function validateCall(method: unknown, args: unknown): unknown[] {
  if (!isLapseApiMethod(method)) throw new IpcPayloadError(String(method), 'is not a method of the Lapse API');
  if (!Array.isArray(args)) fail(method, 'the arguments must be a list');
  const a = args as unknown[];
  // Trailing undefined arguments (an optional one left out) do not count.
  let n = a.length;
  while (n > 0 && a[n - 1] === undefined) n--;
  const sig = SIGNATURES[method];
  if (n > sig.args.length) fail(`${method}`, `takes at most ${sig.args.length} argument(s), got ${n}`);
  for (let i = 0; i < sig.args.length; i++) {
    if (a[i] === undefined) {
      if (i < sig.required) fail(`${method}(args[${i}])`, 'is required');
      continue;
    }
    sig.args[i]!(a[i], `${method}(args[${i}])`);
  }
  return a.slice(0, n);
}
