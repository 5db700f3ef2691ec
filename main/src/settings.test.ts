// Settings on `conf` (what electron-store is built on) in a temporary directory.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Conf from 'conf';
import { DEFAULT_SETTINGS, SettingsError, SettingsStore, migrate } from './settings.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function conf(initial?: unknown) {
  const cwd = mkdtempSync(join(tmpdir(), 'lapse-settings-'));
  dirs.push(cwd);
  if (initial !== undefined) writeFileSync(join(cwd, 'settings.json'), JSON.stringify(initial));
  return { cwd, store: new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }) };
}
const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SettingsError, String(err));
    return err.field;
  }
  assert.fail('expected a SettingsError');
};

test('a first start writes the defaults: embedded mode, no extra reminders (the server\'s expiry warnings are enough)', () => {
  const { cwd, store } = conf();
  const s = new SettingsStore(store).get();
  assert.deepEqual(s, DEFAULT_SETTINGS);
  assert.deepEqual(s.extraReminderMinutes, []);
  assert.deepEqual(JSON.parse(readFileSync(join(cwd, 'settings.json'), 'utf8')), DEFAULT_SETTINGS);
});

test('an update is validated, normalised, saved, and read back by the next start', () => {
  const { store } = conf();
  const settings = new SettingsStore(store);
  const s = settings.update({ serverUrl: ' https://lapse.example.com/ ', extraReminderMinutes: [1, 15, 1], doNotDisturb: true });
  assert.equal(s.serverUrl, 'https://lapse.example.com');
  assert.deepEqual(s.extraReminderMinutes, [15, 1]);
  assert.equal(s.embedded, false, 'a server URL means team mode');
  const again = new SettingsStore(store).get();
  assert.equal(again.serverUrl, 'https://lapse.example.com');
  assert.equal(again.doNotDisturb, true);
  assert.deepEqual(again.extraReminderMinutes, [15, 1]);
  assert.deepEqual(settings.update({ extraReminderMinutes: [] }).extraReminderMinutes, [], 'none is a choice');
});

test('bad input names the field', () => {
  const settings = new SettingsStore(conf().store);
  assert.equal(fieldOf(() => settings.update({ serverUrl: 'lapse.example.com' })), 'serverUrl');
  assert.equal(fieldOf(() => settings.update({ serverUrl: 'ftp://x' })), 'serverUrl');
  assert.equal(fieldOf(() => settings.update({ serverUrl: 'https://u:p@x' })), 'serverUrl');
  assert.equal(fieldOf(() => settings.update({ extraReminderMinutes: [10, 0] })), 'extraReminderMinutes[1]');
  assert.equal(fieldOf(() => settings.update({ extraReminderMinutes: [1.5] })), 'extraReminderMinutes[0]');
  assert.equal(fieldOf(() => settings.update({ extraReminderMinutes: [1441] })), 'extraReminderMinutes[0]');
  assert.equal(fieldOf(() => settings.update({ extraReminderMinutes: '10' })), 'extraReminderMinutes');
  assert.equal(fieldOf(() => settings.update({ extraReminderMinutes: [1, 2, 3, 4, 5, 6] })), 'extraReminderMinutes');
  assert.equal(fieldOf(() => settings.update({ notificationOffsetsMinutes: [10, 1] })), 'notificationOffsetsMinutes', 'the old name is no setting any more');
  assert.equal(fieldOf(() => settings.update({ doNotDisturb: 'yes' })), 'doNotDisturb');
  assert.equal(fieldOf(() => settings.update({ token: 'secret' })), 'token', 'the token is not a setting');
  assert.equal(fieldOf(() => settings.update({ embedded: false })), 'serverUrl', 'team mode needs a server');
  assert.equal(fieldOf(() => settings.update(null)), 'settings');
  assert.deepEqual(settings.get(), DEFAULT_SETTINGS, 'a refused update changes nothing');
});

test('version 1 settings are migrated, and the file is rewritten in the current shape', () => {
  const { cwd, store } = conf({ server: 'https://old.example.com', warnMinutesBefore: 5, mute: true, launchAtLogin: true });
  const s = new SettingsStore(store).get();
  assert.equal(s.version, 3);
  assert.equal(s.serverUrl, 'https://old.example.com');
  assert.deepEqual(s.extraReminderMinutes, [5], 'one warning of its own becomes an extra reminder');
  assert.equal(s.doNotDisturb, true);
  assert.equal(s.launchAtLogin, true);
  assert.equal(s.embedded, false);
  const onDisk = JSON.parse(readFileSync(join(cwd, 'settings.json'), 'utf8'));
  assert.equal(onDisk.server, undefined);
  assert.equal(onDisk.version, 3);
  assert.deepEqual(migrate({ version: 3, serverUrl: 'x' }), { version: 3, serverUrl: 'x' }, 'current documents pass through');
});

test('version 2 warnings become extra reminders: a list of one\'s own is kept, the old default [10, 1] becomes none', () => {
  const chosen = conf({ version: 2, serverUrl: '', notificationOffsetsMinutes: [15], doNotDisturb: false, launchAtLogin: true, embedded: true, windowBounds: null, notificationState: { keys: ['k'], lastEventId: 'e1' } });
  const s = new SettingsStore(chosen.store).get();
  assert.equal(s.version, 3);
  assert.deepEqual(s.extraReminderMinutes, [15]);
  assert.equal(s.launchAtLogin, true, 'the other settings are kept');
  assert.deepEqual(s.notificationState, { keys: ['k'], lastEventId: 'e1' });
  const onDisk = JSON.parse(readFileSync(join(chosen.cwd, 'settings.json'), 'utf8'));
  assert.deepEqual(onDisk.extraReminderMinutes, [15]);
  assert.equal('notificationOffsetsMinutes' in onDisk, false, 'the old key is dropped');

  const defaults = conf({ version: 2, serverUrl: '', notificationOffsetsMinutes: [10, 1], embedded: true });
  assert.deepEqual(new SettingsStore(defaults.store).get().extraReminderMinutes, [], 'the old default: the server\'s warnings are enough');
  assert.equal('notificationOffsetsMinutes' in JSON.parse(readFileSync(join(defaults.cwd, 'settings.json'), 'utf8')), false);

  assert.deepEqual(migrate({ version: 2, notificationOffsetsMinutes: [1, 10, 1] }), { version: 3, extraReminderMinutes: [] }, 'the default in any order');
  assert.deepEqual(migrate({ version: 2, notificationOffsetsMinutes: [10, 1, 5] }), { version: 3, extraReminderMinutes: [10, 1, 5] }, 'more than the default is a list of one\'s own');
  assert.deepEqual(migrate({ version: 2 }), { version: 3, extraReminderMinutes: [] }, 'none stored: the default');
  assert.deepEqual(new SettingsStore(conf({ version: 2, serverUrl: '', notificationOffsetsMinutes: [30, 30, 2] }).store).get().extraReminderMinutes, [30, 2], 'validated and normalised as any value');
  assert.deepEqual(new SettingsStore(conf({ warnMinutesBefore: 10 }).store).get().extraReminderMinutes, [10], 'version 1 → 2 → 3');
  assert.deepEqual(new SettingsStore(conf({ server: 'https://old.example.com' }).store).get().extraReminderMinutes, [], 'version 1 without a warning: the default, so none');
});

test('settings from a newer version are refused with a clear error; a damaged file falls back to the defaults', () => {
  assert.throws(() => new SettingsStore(conf({ version: 9 }).store), /written by a newer Lapse \(version 9/);
  const damaged = new SettingsStore(conf({ version: 3, serverUrl: 42, extraReminderMinutes: 'x' }).store);
  assert.deepEqual(damaged.get(), DEFAULT_SETTINGS);
  const damagedV2 = new SettingsStore(conf({ version: 2, serverUrl: '', notificationOffsetsMinutes: 'x' }).store);
  assert.deepEqual(damagedV2.get(), DEFAULT_SETTINGS, 'a damaged old list is not carried over');
});

test('window bounds and the notification state are kept, validated', () => {
  const { store } = conf();
  const settings = new SettingsStore(store);
  settings.patch({ windowBounds: { x: 10, y: 20, width: 900, height: 640 }, notificationState: { keys: ['a', 'b'], lastEventId: 'b' } });
  const again = new SettingsStore(store).get();
  assert.deepEqual(again.windowBounds, { x: 10, y: 20, width: 900, height: 640 });
  assert.deepEqual(again.notificationState, { keys: ['a', 'b'], lastEventId: 'b' });
  assert.throws(() => settings.patch({ windowBounds: { x: 0, y: 0, width: 10, height: 10 } }), /smaller than a usable window/);
});
