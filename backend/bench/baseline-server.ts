// The throughput baseline: the same framework (Fastify) doing one SQLite insert per request,
// so the Lapse figure can be read as a ratio on whatever machine runs it.

import Fastify from 'fastify';
import Database from 'libsql';
import { randomUUID } from 'node:crypto';

const db = new Database(process.argv[2] ?? ':memory:');
db.exec('PRAGMA journal_mode = WAL');
db.exec('PRAGMA synchronous = NORMAL');
db.exec('CREATE TABLE IF NOT EXISTS requests (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, doc TEXT NOT NULL)');
const insert = db.prepare('INSERT INTO requests (id, created_at, doc) VALUES (?, ?, ?)');
const app = Fastify({ logger: false });
app.post('/requests', async (req, reply) => {
  const doc = { id: randomUUID(), ...(req.body as object), status: 'active' };
  insert.run(doc.id, Date.now(), JSON.stringify(doc));
  reply.code(201);
  return doc;
});
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
