// Benchmarks of the redis, webhook and command integrations against local targets: the Redis
// on 127.0.0.1:6379, a webhook receiver in this process that verifies every signature, and a
// command (a small Node script) run once per call. Registered in run.ts as `kv-latency`.
//
// Grant and revoke latency, p50/p99 over BENCH_KV_CYCLES (200) cycles of one grant followed
// by its revoke, per integration type (after 10 warm-up cycles). The command's figures are
// dominated by starting a process (a Node runtime here; a shell script starts faster).

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Entitlement } from '../src/domain/request.ts';
import type { Integration } from '../src/integrations/integration.ts';
import { RedisIntegration } from '../src/integrations/redis.ts';
import { WebhookIntegration, verifyWebhookSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../src/integrations/webhook.ts';
import { CommandIntegration } from '../src/integrations/command.ts';
import { grantRevokeCycles, summarize } from './support.ts';
import type { Report } from './integrations-sql.ts';

const ms = (v: number) => `${v.toFixed(2)} ms`;
const hex = () => randomBytes(4).toString('hex');

async function measure(report: Report, label: string, integration: Integration, ent: Entitlement, n: number): Promise<void> {
  await grantRevokeCycles(integration, ent, 10);
  const r = await grantRevokeCycles(integration, ent, n);
  const g = summarize(r.grant);
  const v = summarize(r.revoke);
  report(`${label} grant p50 / p99`, `${ms(g.p50)} / ${ms(g.p99)}`);
  report(`${label} revoke p50 / p99`, `${ms(v.p50)} / ${ms(v.p99)}`);
}

export async function kvLatencyBench(report: Report): Promise<void> {
  const n = Number(process.env.BENCH_KV_CYCLES ?? 200);
  console.log(`kv-latency: ${n} grant + revoke cycles per integration (redis, webhook, command; after 10 warm-up cycles)`);

  // redis: one ACL user per request, with its own prefix for this run.
  const prefix = `lb${hex()}_`;
  const redis = new RedisIntegration('cache', { host: '127.0.0.1', port: 6379, rolePrefix: prefix });
  try {
    await measure(report, 'redis', redis, { integration: 'cache', resourceType: 'key-prefix', resource: `bench:${prefix}`, permission: 'read' }, n);
    const admin = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    const left = ((await admin.call('ACL', 'USERS')) as string[]).filter((u) => u.startsWith(prefix));
    admin.disconnect();
    report('redis ACL users left after the cycles', String(left.length), '0');
  } finally {
    await redis.close();
  }

  // webhook: a local receiver that checks each signature and answers with access details.
  const secret = randomBytes(32).toString('hex');
  let bad = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!verifyWebhookSignature(secret, String(req.headers[TIMESTAMP_HEADER]), Buffer.concat(chunks), String(req.headers[SIGNATURE_HEADER]))) bad++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"accessDetails":{"token":"t"}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const hook = new WebhookIntegration('hook', { url: `http://127.0.0.1:${port}/lapse`, secret });
    await measure(report, 'webhook (local receiver)', hook, { integration: 'hook', resourceType: 'service', resource: 'billing', permission: 'use' }, n);
    report('webhook calls with a bad signature', String(bad), '0');
  } finally {
    server.closeAllConnections();
    server.close();
  }

  // command: a Node script that reads the request and answers.
  const dir = mkdtempSync(join(tmpdir(), 'lapse-bench-'));
  try {
    const path = join(dir, 'grant.mjs');
    writeFileSync(path, `#!${process.execPath}\nimport { readFileSync } from 'node:fs';\nconst req = JSON.parse(readFileSync(0, 'utf8'));\nif (req.action === 'grant') process.stdout.write(JSON.stringify({ accessDetails: { login: req.user.id } }));\n`);
    chmodSync(path, 0o755);
    const cmd = new CommandIntegration('cmd', { path });
    await measure(report, 'command (node script)', cmd, { integration: 'cmd', resourceType: 'service', resource: 'billing', permission: 'use' }, n);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
