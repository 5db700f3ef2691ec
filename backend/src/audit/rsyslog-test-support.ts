// A real rsyslog (Debian's rsyslog package) for the audit stream's tests: started with a
// private configuration (imtcp on a free port of 127.0.0.1, its own work directory and pid
// file, no input from the system and no output but one file), writing each message it
// receives as it arrived (%rawmsg%) on a line of its own; and the parsing of those lines.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

export const RSYSLOGD = '/usr/sbin/rsyslogd';

export interface Rsyslog {
  port: number;
  /** The file every received message is written to, one a line. */
  file: string;
  /** Stops it (SIGTERM) and waits until it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port, appending to the same file. */
  start(): Promise<void>;
  /** The lines of the file so far. */
  lines(): string[];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** A test CA and a certificate it signed for localhost and 127.0.0.1 (PEM files in `dir`, made by openssl). */
export function makeTestCertificates(dir: string): { ca: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const at = (name: string) => join(dir, name);
  writeFileSync(at('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const args of [
    ['req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2', '-subj', '/CN=Lapse test CA'],
    ['req', ...ec, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=localhost'],
    ['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.pem'), '-days', '2', '-extfile', at('ext.cnf')],
  ]) {
    const run = spawnSync('openssl', args, { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`openssl ${args[0]}: ${run.stderr}`);
  }
  return { ca: at('ca.pem'), cert: at('server.pem'), key: at('server.key') };
}

/**
 * rsyslogd in `dir` (created if needed), listening on a free port; with `tls`, over TLS
 * (GnuTLS, Debian's rsyslog-gnutls) with that certificate, clients not authenticated.
 */
export async function startRsyslog(dir: string, tls?: { ca: string; cert: string; key: string }): Promise<Rsyslog> {
  mkdirSync(join(dir, 'work'), { recursive: true });
  const port = await freePort();
  const file = join(dir, 'messages.log');
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(conf, [
    `global(workDirectory="${join(dir, 'work')}" maxMessageSize="64k"${tls ? ` DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="${tls.ca}" DefaultNetstreamDriverCertFile="${tls.cert}" DefaultNetstreamDriverKeyFile="${tls.key}"` : ''})`,
    tls ? 'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")' : 'module(load="imtcp")',
    'template(name="raw" type="string" string="%rawmsg%\\n")',
    'ruleset(name="stream") {',
    `  action(type="omfile" file="${file}" template="raw")`,
    '}',
    `input(type="imtcp" port="${port}" address="127.0.0.1" ruleset="stream")`,
    '',
  ].join('\n'));
  let child: ChildProcess | null = null;
  let output = '';
  const start = async () => {
    const started = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    started.stdout!.setEncoding('utf8').on('data', (s: string) => { output += s; });
    started.stderr!.setEncoding('utf8').on('data', (s: string) => { output += s; });
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (started.exitCode !== null || Date.now() > deadline) throw new Error(`rsyslogd did not listen on ${port}: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return { port, file, start, stop, lines: () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []) };
}

/** One RFC 5424 message as the stream writes it: its header fields, structured data parameters and the event's JSON. */
export interface ParsedMessage {
  pri: number;
  timestamp: string;
  hostname: string;
  appName: string;
  msgId: string;
  params: Record<string, string>;
  event: Record<string, unknown>;
}

/** Parses a line the stream's syslog subscriber sent; throws on anything else. */
export function parseSyslogLine(line: string): ParsedMessage {
  const head = /^<(\d+)>1 (\S+) (\S+) (\S+) - (\S+) \[/.exec(line);
  if (!head) throw new Error(`not an RFC 5424 message from the stream: ${line}`);
  // The structured data: one element, its values quoted with ", \ and ] escaped.
  let i = head[0].length;
  let quoted = false;
  for (; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ']' && !quoted) break;
  }
  const element = line.slice(head[0].length, i);
  const params: Record<string, string> = {};
  for (const m of element.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) params[m[1]!] = m[2]!.replace(/\\(["\\\]])/g, '$1');
  if (!element.startsWith('lapse@32473 ') || line[i + 1] !== ' ') throw new Error(`unexpected structured data: ${line}`);
  return {
    pri: Number(head[1]), timestamp: head[2]!, hostname: head[3]!, appName: head[4]!, msgId: head[5]!, params,
    event: JSON.parse(line.slice(i + 2)) as Record<string, unknown>,
  };
}
