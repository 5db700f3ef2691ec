// The URLs Lapse posts to (audit and lifecycle webhooks): https, or plain http on a loopback
// address; no credentials, query or fragment, which would travel with every delivery.

import type { Reader } from './yaml-reader.ts';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** An https URL without credentials, query or fragment; plain http only on a loopback address. */
export function readWebhookUrl(r: Reader, node: unknown, path: string): string | undefined {
  const text = r.name(node, path, 'the receiver\'s URL, e.g. https://siem.example.com/lapse');
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return r.error(node, path, `expected an absolute https URL; got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    return r.error(node, path, `expected an https URL (plain http only on 127.0.0.1 or localhost); got ${JSON.stringify(`${url.protocol}//${url.host}${url.pathname}`)}`);
  }
  // Not repeated in the message: the user part may hold a password.
  if (url.username || url.password) return r.error(node, path, 'the URL holds credentials; leave them out (the receiver checks the signature instead)');
  if (url.search || url.hash) return r.error(node, path, 'expected a URL without a query or fragment (a token in it would be sent with every event and shown in the status)');
  return text;
}
