// The web portal: the built renderer (renderer/dist) served at `/`. Only the regular files
// directly inside that directory are served, by exact name; nothing else on the file system
// is reachable. Every answer carries a strict Content-Security-Policy.

import { createHash, randomBytes } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { projectPath } from '../paths.ts';

/** renderer/dist of the project, from the sources, the compiled backend or the desktop app's bundle alike. */
export const DEFAULT_PORTAL_DIR = projectPath('renderer', 'dist');

/**
 * The policy of every portal answer. `nonce` (index.html only) admits the one <style> element
 * the dialogs' scroll lock inserts; the page learns it from a meta tag. No inline script, ever.
 */
export const portalCsp = (nonce?: string) => [
  "default-src 'none'",
  "script-src 'self'",
  nonce ? `style-src 'self' 'nonce-${nonce}'` : "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  json: 'application/json; charset=utf-8',
  map: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
};

/** A plain file name (no separators, no leading dot) with a known extension. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.([a-z0-9]+)$/;
/** Built assets carry a content hash in their name (`app-3XK2PQ7A.js`) and may be cached for good. */
const HASHED_NAME = /-[A-Z0-9]{8}\.[a-z0-9]+$/;

interface CachedFile { mtimeMs: number; size: number; body: Buffer; etag: string }

export function registerPortal(app: FastifyInstance, opts: { dir?: string } = {}): void {
  const dir = opts.dir ?? DEFAULT_PORTAL_DIR;
  const cache = new Map<string, CachedFile>();

  const load = async (name: string): Promise<CachedFile | null> => {
    const m = SAFE_NAME.exec(name);
    if (!m || !(m[1]! in CONTENT_TYPES)) return null;
    // Only what the directory lists, and only regular files (no symbolic links out of it).
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return null;
    }
    if (!entries.includes(name)) return null;
    const path = join(dir, name);
    const st = await lstat(path).catch(() => null);
    if (!st?.isFile()) return null;
    const hit = cache.get(name);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit;
    const body = await readFile(path);
    const file = { mtimeMs: st.mtimeMs, size: st.size, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    cache.set(name, file);
    return file;
  };

  const serve = async (name: string, req: FastifyRequest, reply: FastifyReply) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('content-security-policy', portalCsp());
    const file = await load(name);
    if (!file) {
      if (name === 'index.html') {
        return reply.code(503).type('text/plain; charset=utf-8').header('cache-control', 'no-store')
          .send('The web portal is not built. Build it with: npm run build:renderer\n');
      }
      return reply.code(404).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send('Not found\n');
    }
    const ext = SAFE_NAME.exec(name)![1]!;
    if (name === 'index.html') {
      // A fresh nonce per answer, so the page is never cached or revalidated.
      const nonce = randomBytes(16).toString('base64');
      const html = file.body.toString('utf8').replace('</head>', `  <meta property="csp-nonce" content="${nonce}">\n</head>`);
      return reply.header('content-security-policy', portalCsp(nonce)).header('cache-control', 'no-store').type(CONTENT_TYPES.html!).send(html);
    }
    reply.header('etag', file.etag);
    reply.header('cache-control', HASHED_NAME.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache');
    reply.type(CONTENT_TYPES[ext]!);
    if (req.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return reply.send(file.body);
  };

  const PUBLIC = { config: { access: 'public' as const } };
  app.get('/', PUBLIC, (req, reply) => serve('index.html', req, reply));
  app.get('/:file', PUBLIC, (req, reply) => serve((req.params as { file: string }).file, req, reply));
}
