// Real `lapse server` replica processes for the multi-replica tests and benchmarks: each on
// a free port with its own data directory, all on one PostgreSQL store.

import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_SECRET_KEY } from '../src/store/postgres-test-support.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LAPSE = join(ROOT, 'backend', 'bin', 'lapse.js');

export interface Replica {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote, for failure messages. */
  log: () => string;
}

export const children = new Set<ChildProcess>();

/** Kills (SIGKILL) every process started here that still runs, and waits for them. */
export async function killAll(): Promise<void> {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all([...children].map((c) => exited(c, 10_000).catch(() => undefined)));
}

export function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise(code);
    });
  });
}

export function startReplica(configPath: string, dataDir: string, storeUrl: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<Replica> {
  const child = spawn(process.execPath, [LAPSE, 'server', '--config', configPath, '--data-dir', dataDir, '--port', '0', '--store', storeUrl], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LAPSE_LOG_LEVEL: 'warn', LAPSE_SECRET_KEY: TEST_SECRET_KEY, ...env },
  });
  children.add(child);
  let output = '';
  const log = () => output.slice(-20_000);
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { output += s; });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the replica did not listen within ${timeoutMs} ms\n${log()}`));
    }, timeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      output += s;
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, url: m[1]!, log });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the replica exited before listening (code ${code}, signal ${signal})\n${log()}`));
    });
  });
}

/** The `lapse` command in a child process, with the replicas' secret key (as an admin on a replica's host would have it). */
export function runCli(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [LAPSE, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LAPSE_SECRET_KEY: TEST_SECRET_KEY } });
  children.add(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  return exited(child, timeoutMs).then((code) => ({ code, out }));
}

export async function api<T>(base: string, token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, timeoutMs: number, intervalMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

/** A configuration for replica tests: `users` engineers, `databases` demo databases, one shared demo record. */
export function replicaConfig(opts: { users: string[]; databases: number; recordFile: string; grantFor?: string }): string {
  const users = opts.users.map((u) => `    - { id: ${u}, email: ${u}@example.com, name: User ${u}, groups: [engineering], manager: bob }`).join('\n');
  const dbs = Array.from({ length: opts.databases }, (_, i) => `      - { type: database, name: db${i} }`).join('\n');
  return `settings:
  admins: [carol]
  expiryWarnings: []

identities:
  users:
    - { id: carol, email: carol@example.com, name: Carol, groups: [security] }
    - { id: bob, email: bob@example.com, name: Bob, groups: [sre-leads] }
    - { id: erin, email: erin@example.com, name: Erin, groups: [sre-leads] }
${users}

integrations:
  - id: demo
    type: demo
    name: Demo
    owner: { group: security }
    connection: { recordFile: ${JSON.stringify(opts.recordFile)} }
    resources:
${dbs}

flows:
  - id: short-read
    name: Short read access
    description: Read access to the demo databases, granted at once.
    kind: self-serve
    requesters: { conditions: [ { attribute: group, op: is, value: [engineering] } ] }
    targets:
      - { integration: demo, resourceType: database, resources: any, permissions: [read] }
    grantFor: ${opts.grantFor ?? '1m'}
    maxDuration: 1h
    approval: automatic
  - id: approved-write
    name: Approved write access
    description: Write access to the demo databases, after one approval.
    kind: self-serve
    requesters: { conditions: [ { attribute: group, op: is, value: [engineering] } ] }
    targets:
      - { integration: demo, resourceType: database, resources: any, permissions: [write] }
    grantFor: 1h
    maxDuration: 4h
    approval: { mode: anyOf, groups: [ { conditions: [ { attribute: group, op: is, value: [sre-leads] } ] } ] }
`;
}
