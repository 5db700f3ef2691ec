// The desktop settings: schema, validation, migrations. Stored through an injected
// key-value store (electron-store in the app, plain `conf` in tests: electron-store is
// built on conf and only adds Electron paths). The token is never here: it lives in the OS
// keychain (keychain.ts).

import type { DesktopSettingsUpdate } from '../../common/lapse-api.ts';
import type { SeenState } from '../../common/seen-keys.ts';

export const SETTINGS_VERSION = 3;

export interface WindowBounds {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Settings {
  version: number;
  /** The team server; empty in embedded mode or before setup. */
  serverUrl: string;
  /**
   * The person's own reminders, in minutes before expiry, on top of the server's expiry
   * warnings (`settings.expiryWarnings`, read from `me`); empty: the server's are enough.
   */
  extraReminderMinutes: number[];
  doNotDisturb: boolean;
  launchAtLogin: boolean;
  /** No server: the backend runs inside the app on a local SQLite file. */
  embedded: boolean;
  windowBounds: WindowBounds | null;
  /** Notifications already shown, and the last event id (no repeats after a restart). */
  notificationState: SeenState;
}

export const DEFAULT_SETTINGS: Settings = {
  version: SETTINGS_VERSION,
  serverUrl: '',
  extraReminderMinutes: [],
  doNotDisturb: false,
  launchAtLogin: false,
  embedded: true,
  windowBounds: null,
  notificationState: { keys: [], lastEventId: null },
};

/** What `conf` and `electron-store` offer: the whole document, read and written at once. */
export interface DocumentStore {
  store: Record<string, unknown>;
}

export class SettingsError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'SettingsError';
  }
}

type Migration = (doc: Record<string, unknown>) => Record<string, unknown>;

/** Version 2's default warnings, which the tray planned by itself: 10 and 1 minutes before expiry. */
const V2_DEFAULT_OFFSETS_MINUTES = [10, 1];

/** Whether `value` is version 2's default warning list (in any order, repeats aside). */
function isV2DefaultOffsets(value: unknown): boolean {
  if (!Array.isArray(value)) return false;
  const set = [...new Set(value)].sort();
  return set.length === V2_DEFAULT_OFFSETS_MINUTES.length && [...V2_DEFAULT_OFFSETS_MINUTES].sort().every((m, i) => set[i] === m);
}

/**
 * Version n → n+1. Version 1 (the first builds) kept the server as `server`, one warning
 * as `warnMinutesBefore`, and quiet hours as `mute`. Version 2 kept the tray's own warning
 * list as `notificationOffsetsMinutes` (default [10, 1]); since version 3 the server's
 * warnings come first and the setting holds only extra reminders: a list the person chose
 * is kept as extra reminders, the old default becomes none.
 */
const MIGRATIONS: Record<number, Migration> = {
  1: (doc) => {
    const { server, warnMinutesBefore, mute, ...rest } = doc;
    return {
      ...rest,
      serverUrl: typeof server === 'string' ? server : '',
      notificationOffsetsMinutes: typeof warnMinutesBefore === 'number' ? [warnMinutesBefore] : V2_DEFAULT_OFFSETS_MINUTES,
      doNotDisturb: mute === true,
      embedded: !(typeof server === 'string' && server.length > 0),
      version: 2,
    };
  },
  2: (doc) => {
    const { notificationOffsetsMinutes: offsets, ...rest } = doc;
    // Anything else than the old default is carried over as is (and validated as any value is).
    return { ...rest, extraReminderMinutes: offsets === undefined || isV2DefaultOffsets(offsets) ? [] : offsets, version: 3 };
  },
};

/** Brings a stored document of any known version to the current one. */
export function migrate(doc: Record<string, unknown>): Record<string, unknown> {
  let out = { ...doc };
  let version = typeof out.version === 'number' ? out.version : Object.keys(out).length ? 1 : SETTINGS_VERSION;
  if (version > SETTINGS_VERSION) throw new SettingsError('version', `these settings were written by a newer Lapse (version ${version}; this one reads up to ${SETTINGS_VERSION})`);
  while (version < SETTINGS_VERSION) {
    const step = MIGRATIONS[version];
    if (!step) throw new SettingsError('version', `no migration from settings version ${version}`);
    out = step(out);
    version = out.version as number;
  }
  return out;
}

export function validateServerUrl(value: unknown): string {
  if (typeof value !== 'string') throw new SettingsError('serverUrl', 'must be text');
  const v = value.trim();
  if (v === '') return '';
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new SettingsError('serverUrl', `"${v}" is not a URL (e.g. https://lapse.example.com)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SettingsError('serverUrl', `must be http:// or https://, got ${url.protocol}`);
  if (url.username || url.password) throw new SettingsError('serverUrl', 'must not contain credentials; the token goes in its own field');
  if (url.search || url.hash) throw new SettingsError('serverUrl', 'must not contain a query or fragment');
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** Extra reminders: at most 5 whole minutes from 1 to 1440, each once, latest first. */
export function validateExtraReminders(value: unknown): number[] {
  if (!Array.isArray(value)) throw new SettingsError('extraReminderMinutes', 'must be a list of minutes, e.g. [5, 2], or [] for none');
  if (value.length > 5) throw new SettingsError('extraReminderMinutes', `at most 5 reminders, got ${value.length}`);
  value.forEach((m, i) => {
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > 1440) throw new SettingsError(`extraReminderMinutes[${i}]`, `must be a whole number of minutes from 1 to 1440, got ${JSON.stringify(m)}`);
  });
  return [...new Set(value as number[])].sort((a, b) => b - a);
}

function bool(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new SettingsError(field, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function bounds(value: unknown): WindowBounds | null {
  if (value === null || value === undefined) return null;
  const b = value as Record<string, unknown>;
  for (const k of ['x', 'y', 'width', 'height'] as const) {
    if (typeof b?.[k] !== 'number' || !Number.isFinite(b[k])) throw new SettingsError(`windowBounds.${k}`, 'must be a number');
  }
  if ((b.width as number) < 200 || (b.height as number) < 200) throw new SettingsError('windowBounds', 'is smaller than a usable window');
  return { x: b.x as number, y: b.y as number, width: b.width as number, height: b.height as number };
}

/** A whole settings document, checked field by field; unknown fields are dropped. */
export function validateSettings(doc: Record<string, unknown>): Settings {
  const d = { ...DEFAULT_SETTINGS, ...doc };
  const state = d.notificationState as Partial<SeenState> | undefined;
  return {
    version: SETTINGS_VERSION,
    serverUrl: validateServerUrl(d.serverUrl),
    extraReminderMinutes: validateExtraReminders(d.extraReminderMinutes),
    doNotDisturb: bool('doNotDisturb', d.doNotDisturb),
    launchAtLogin: bool('launchAtLogin', d.launchAtLogin),
    embedded: bool('embedded', d.embedded),
    windowBounds: bounds(d.windowBounds),
    notificationState: {
      keys: Array.isArray(state?.keys) ? state.keys.filter((k): k is string => typeof k === 'string') : [],
      lastEventId: typeof state?.lastEventId === 'string' ? state.lastEventId : null,
    },
  };
}

const UPDATABLE = new Set(['serverUrl', 'extraReminderMinutes', 'doNotDisturb', 'launchAtLogin', 'embedded']);

/** An update from the settings window: only known fields, each valid, and a mode that works. */
export function validateUpdate(current: Settings, update: unknown): Settings {
  if (!update || typeof update !== 'object' || Array.isArray(update)) throw new SettingsError('settings', 'must be an object');
  for (const k of Object.keys(update)) if (!UPDATABLE.has(k)) throw new SettingsError(k, 'is not a setting that can be changed here');
  const u = update as DesktopSettingsUpdate;
  const next = validateSettings({ ...current, ...u });
  // Choosing a server means team mode unless embedded is asked for in the same update.
  if (u.serverUrl !== undefined && next.serverUrl && u.embedded === undefined) next.embedded = false;
  if (!next.embedded && !next.serverUrl) throw new SettingsError('serverUrl', 'is required in team mode (or turn on embedded mode)');
  return next;
}

/** Settings on an injected store: read (migrated and validated), update, save. */
export class SettingsStore {
  private current: Settings;

  constructor(private readonly store: DocumentStore) {
    const raw = store.store ?? {};
    let doc: Settings;
    try {
      doc = validateSettings(migrate(raw));
    } catch (err) {
      if (err instanceof SettingsError && err.field === 'version') throw err;
      // A damaged file must not keep the app from starting: the defaults, and the file fixed.
      doc = { ...DEFAULT_SETTINGS };
    }
    this.current = doc;
    if (JSON.stringify(raw) !== JSON.stringify(doc)) this.store.store = { ...doc };
  }

  get(): Settings {
    return structuredClone(this.current);
  }

  update(update: unknown): Settings {
    this.current = validateUpdate(this.current, update);
    this.store.store = { ...this.current };
    return this.get();
  }

  /** Internal writes from main (window bounds, notification state), validated too. */
  patch(patch: Partial<Pick<Settings, 'windowBounds' | 'notificationState'>>): void {
    this.current = validateSettings({ ...this.current, ...patch });
    this.store.store = { ...this.current };
  }
}
