// `npm run bench -- startup`: how long `lapse --help` takes and how long a server takes from
// process start to `listening`, as ratios to a bare `node -e 0` measured in the same run; the
// compiled backend beside the same from the TypeScript sources through tsx (as every start
// ran before the backend was compiled; tsx's cache warm, which systemd's PrivateTmp empties).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './support.ts';

type Report = (name: string, figure: string, target?: string) => void;

const BIN = join(REPO, 'backend/bin/lapse.js');
const SOURCE_CLI = join(REPO, 'backend/src/cli/main.ts');
const EXAMPLE = join(REPO, 'backend/examples/lapse.yaml');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timeRun(args: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
  return performance.now() - t;
}

/** Milliseconds from spawning a server until it says it is listening (then it is stopped). */
async function timeListening(args: string[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-bench-startup-'));
  try {
    const t = performance.now();
    const child = spawn(process.execPath, [...args, 'server', '--config', EXAMPLE, '--data-dir', dir, '--port', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LAPSE_LOG_LEVEL: 'error' },
    });
    const took = await new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stderr!.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('listening on')) resolve(performance.now() - t);
      });
      child.once('exit', (code) => reject(new Error(`the server exited (${code}): ${buf}`)));
    });
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    return took;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startupBench(report: Report): Promise<void> {
  const runs = Number(process.env.BENCH_STARTUP_RUNS ?? 15);
  console.log(`startup: medians of ${runs} runs (server starts: of ${Math.ceil(runs / 3)})`);
  const fromSource = ['--import', 'tsx', '--input-type=module', '-e', `const { run } = await import(${JSON.stringify(SOURCE_CLI)}); await run(process.argv.slice(1));`];
  // Alternate, so that the machine's changing load falls on every kind alike.
  const bare: number[] = [];
  const help: number[] = [];
  const helpSource: number[] = [];
  timeRun([BIN, '--help']);
  timeRun([...fromSource, '--help']); // warms tsx's cache, as on a developer's machine
  for (let i = 0; i < runs; i++) {
    bare.push(timeRun(['-e', '0']));
    help.push(timeRun([BIN, '--help']));
    helpSource.push(timeRun([...fromSource, '--help']));
  }
  const listening: number[] = [];
  const listeningSource: number[] = [];
  for (let i = 0; i < Math.ceil(runs / 3); i++) {
    listening.push(await timeListening([BIN]));
    listeningSource.push(await timeListening(fromSource));
  }
  const b = median(bare);
  report('bare node -e 0', `${b.toFixed(0)} ms`);
  report('lapse --help, compiled', `${median(help).toFixed(0)} ms, ${(median(help) / b).toFixed(1)}× bare node`, '≤ 3×');
  report('lapse --help, from source through tsx (before)', `${median(helpSource).toFixed(0)} ms, ${(median(helpSource) / b).toFixed(1)}× bare node`);
  report('server start to listening, compiled', `${median(listening).toFixed(0)} ms, ${(median(listening) / b).toFixed(1)}× bare node`, '≤ 6×');
  report('server start to listening, from source through tsx (before)', `${median(listeningSource).toFixed(0)} ms, ${(median(listeningSource) / b).toFixed(1)}× bare node`);
}
