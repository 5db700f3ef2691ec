// The data directory holds the SQLite store and its write-ahead log, the key that seals
// access details, the admin token, the server lock and the demo integration's record: it is
// for Lapse's own user only. The directory is created 0700 and every file Lapse writes in it
// 0600. The modes are given when each file is created, never through the process umask
// (the desktop app embeds the backend and keeps its own). SQLite creates a database's
// `-wal`, `-shm` and `-journal` files with the mode of the database file, so a database
// file created 0600 before SQLite first opens it keeps its log private too.
//
// At server start, a data directory that already exists with wider permissions (made by an
// older version, or by hand) is tightened to 0700, and Lapse's own files in it to 0600, and
// the log says what was changed. A directory that is not this user's, or is shared by design
// (the sticky bit of a shared temporary directory), is left as it is with a warning;
// anything in it that is not Lapse's own file is left alone. On Windows the modes do not
// apply (the user profile's ACLs protect it).

import { chmodSync, closeSync, fchmodSync, lstatSync, mkdirSync, openSync, readdirSync, statSync, writeSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from './logger.ts';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

const POSIX = process.platform !== 'win32';

/** The files Lapse writes in a data directory (a database with its log and journal files). */
const OWN_FILE = /^(?:(?:lapse|demo-.+)\.db(?:-wal|-shm|-journal)?|server\.lock|secret\.key|admin-token|audit-head\.json(?:\.next)?)$/;

/** What prepareDataDir did: the changes (path, old mode, new mode) and what it left wide. */
export interface DataDirReport {
  created: boolean;
  tightened: { path: string; from: string; to: string }[];
  leftWide: { path: string; mode: string; why: string }[];
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/** Why a directory or file with group or other permissions is not changed; null when it may be. */
function whyLeft(st: Stats): string | null {
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return `it belongs to another user (uid ${st.uid})`;
  if (st.isDirectory() && (st.mode & 0o1000) !== 0) return 'it is a shared directory (sticky bit); give Lapse a directory of its own';
  return null;
}

/**
 * Makes `dataDir` ready at server start: created 0700 when missing; when it exists with
 * group or other permissions, tightened to 0700, and Lapse's own files in it (see OWN_FILE)
 * tightened to 0600. What changed is logged as a warning, once per start that changes it.
 */
export function prepareDataDir(dataDir: string, log?: Pick<Logger, 'warn'>): DataDirReport {
  const dir = resolve(dataDir);
  const report: DataDirReport = { created: false, tightened: [], leftWide: [] };
  let st = statOrNull(dir);
  if (!st) {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    report.created = true;
    st = statSync(dir);
  }
  if (!st.isDirectory()) throw new Error(`the data directory ${dir} is not a directory`);
  if (!POSIX) return report;
  if ((st.mode & 0o077) !== 0) tighten(dir, st, DIR_MODE, report);
  for (const name of readdirSync(dir).sort()) {
    if (!OWN_FILE.test(name)) continue;
    const path = join(dir, name);
    const f = lstatSync(path, { throwIfNoEntry: false });
    // A symbolic link is not followed: what it points to is not necessarily Lapse's.
    if (f?.isFile() && (f.mode & 0o077) !== 0) tighten(path, f, FILE_MODE, report);
  }
  if (report.tightened.length > 0) {
    log?.warn({
      dataDir: dir, tightened: report.tightened.map((t) => `${t.path} ${t.from} -> ${t.to}`),
    }, 'tightened the permissions of the data directory: it holds the store, the sealing key and tokens, for this user only');
  }
  for (const w of report.leftWide) log?.warn({ path: w.path, mode: w.mode, reason: w.why }, 'a path in the data directory is readable by other users and was left as it is');
  return report;
}

function tighten(path: string, st: Stats, mode: number, report: DataDirReport): void {
  const why = whyLeft(st);
  if (why) {
    report.leftWide.push({ path, mode: octal(st.mode), why });
    return;
  }
  try {
    chmodSync(path, mode);
    report.tightened.push({ path, from: octal(st.mode), to: octal(mode) });
  } catch (err) {
    report.leftWide.push({ path, mode: octal(st.mode), why: `it cannot be changed (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
  }
}

function statOrNull(path: string): Stats | null {
  return statSync(path, { throwIfNoEntry: false }) ?? null;
}

/** Creates `dir` (and missing parents) 0700 when it does not exist; an existing one is left as it is. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
}

/**
 * Writes `data` to `path`, mode 0600 (also when the file existed with another mode: the
 * mode is set before the data is written). `exclusive`: fail with EEXIST when it exists.
 */
export function writePrivateFile(path: string, data: string, opts: { exclusive?: boolean } = {}): void {
  const fd = openSync(path, opts.exclusive ? 'wx' : 'w', FILE_MODE);
  try {
    if (POSIX) fchmodSync(fd, FILE_MODE);
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** Creates `path` empty, mode 0600, unless it exists (then it is left as it is). True when it was created. */
export function createPrivateFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    if (POSIX) fchmodSync(fd, FILE_MODE);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Before SQLite opens the database `path`: its directory exists (created 0700 when missing)
 * and the file exists 0600 (created empty, which SQLite takes for an empty database), so the
 * log and index files SQLite creates next to it get 0600 too. With `tighten`, an existing
 * database and its -wal, -shm and -journal files of this user are brought to 0600 as well.
 */
export function preparePrivateDatabase(path: string, opts: { tighten?: boolean } = {}): void {
  ensurePrivateDir(dirname(path));
  createPrivateFile(path);
  if (!opts.tighten || !POSIX) return;
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st?.isFile() && (st.mode & 0o077) !== 0 && whyLeft(st) === null) {
      try {
        chmodSync(p, FILE_MODE);
      } catch {
        // Not ours to change (a read-only mount, say): the store still opens.
      }
    }
  }
}
