// A latency probe on an event loop of its own (a worker thread): it times GET requests to
// the server while the benchmark's main thread drives a load, runs receivers and parses
// what they receive, none of which then delays the probe's own timings.
// Asked { url, token, durationMs }, it answers with the latencies in ms.

import { parentPort } from 'node:worker_threads';
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(url: string, token: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'GET', agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`GET ${url}: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

parentPort!.on('message', async (m: { url: string; token: string; durationMs: number } | 'stop') => {
  if (m === 'stop') {
    agent.destroy();
    parentPort!.close();
    return;
  }
  const out: number[] = [];
  const end = performance.now() + m.durationMs;
  while (performance.now() < end) {
    const t = performance.now();
    await get(m.url, m.token);
    out.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 5));
  }
  parentPort!.postMessage(out);
});
