// The notifications benchmark's receivers, in a process of their own (started by
// notifications.ts at a lower priority): an SMTP server and a webhook receiver standing for
// the mail server and the subscriber that in a deployment run on other machines, so that
// receiving 2,000 messages does not take the processor the server under test needs.
// Prints one JSON line with the ports, then one per message received:
// {"mail":1} or {"key":…,"at":…,"transitionAt":…} (a webhook's first delivery by key).

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const smtp = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, onData(stream, _s, done) { stream.resume(); stream.on('end', () => { out({ mail: 1 }); done(); }); } });
await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
const seen = new Set<string>();
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const key = String(req.headers['x-lapse-idempotency-key'] ?? '');
    if (key && !seen.has(key)) {
      seen.add(key);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { at?: string };
      out({ key, at: Date.now(), transitionAt: body.at ? Date.parse(body.at) : null });
    }
    res.writeHead(200).end('ok');
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
out({ smtpPort: (smtp.server.address() as AddressInfo).port, hookPort: (receiver.address() as AddressInfo).port });
// Ends with the benchmark (its stdin closes).
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
