// Cursors of the paginated lists: an opaque token that says where the next page starts (the
// last row's creation time and id), for which list and which filters it was given, sealed
// with an HMAC so that a cursor changed by hand, or carried to another list or other
// filters, is refused with a clear 400 instead of paging something else.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Where the next page starts: after this row, in the list's order. */
export interface CursorPosition {
  createdAt: number;
  id: string;
}

/** A cursor that this server did not give for this list and these filters. */
export class BadCursor extends Error {
  /** `field`: where the fault is, as the problem's field path names it. */
  constructor(message: string, readonly field = 'query cursor') {
    super(message);
    this.name = 'BadCursor';
  }
}

/** At most this many rows per page, whatever `limit` asks; a page is this long unless asked otherwise. */
export const PAGE_LIMIT_MAX = 1000;
export const PAGE_LIMIT_DEFAULT = 100;

/** The `limit` query parameter (a string of digits, as the schema lets through) as a number within 1..PAGE_LIMIT_MAX; a clear error otherwise. */
export function pageLimit(text: string | undefined, fallback = PAGE_LIMIT_DEFAULT): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > PAGE_LIMIT_MAX) throw new BadCursor(`must be a whole number from 1 to ${PAGE_LIMIT_MAX}; got ${JSON.stringify(text)}`, 'query limit');
  return n;
}

export class Cursors {
  private readonly key: Buffer;

  /** `secret`: a key the replicas share (derived here, so the cursor key is not the secret itself). */
  constructor(secret: Buffer) {
    this.key = createHmac('sha256', secret).update('lapse list cursor v1').digest();
  }

  /** The cursor after `position` in `list` under `filters` (any JSON: the query's filters as the route read them). */
  encode(list: string, filters: unknown, position: CursorPosition): string {
    const body = Buffer.from(JSON.stringify({ l: list, f: digest(filters), c: position.createdAt, i: position.id })).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  /** The position a cursor of `list` under `filters` names; null without a cursor; BadCursor for anything else. */
  decode(list: string, filters: unknown, cursor: string | undefined): CursorPosition | null {
    if (cursor === undefined) return null;
    const [body, mac, ...rest] = cursor.split('.');
    if (!body || !mac || rest.length > 0) throw new BadCursor('is not a cursor this server gave: pass the nextCursor of the previous page as it came');
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new BadCursor('was changed or is not one this server gave: pass the nextCursor of the previous page as it came');
    let parsed: { l?: unknown; f?: unknown; c?: unknown; i?: unknown };
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof parsed;
    } catch {
      throw new BadCursor('is not a cursor this server gave');
    }
    if (parsed.l !== list || parsed.f !== digest(filters)) {
      throw new BadCursor(`was given for another list or other filters; ask again without a cursor for the first page of this one`);
    }
    if (typeof parsed.c !== 'number' || !Number.isSafeInteger(parsed.c) || typeof parsed.i !== 'string') throw new BadCursor('is not a cursor this server gave');
    return { createdAt: parsed.c, id: parsed.i };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, 18).toString('base64url');
  }
}

/**
 * A page cut from rows read with `limit + 1`: the first `limit`, and the cursor after the
 * last of them when there was one more (so the last page says null, not an empty page after it).
 */
export function cutPage<T extends CursorPosition>(cursors: Cursors, list: string, filters: unknown, read: T[], limit: number): { page: T[]; nextCursor: string | null } {
  const page = read.slice(0, limit);
  const last = page[page.length - 1];
  return { page, nextCursor: read.length > limit && last ? cursors.encode(list, filters, { createdAt: last.createdAt, id: last.id }) : null };
}

function digest(filters: unknown): string {
  return createHash('sha256').update(canonical(filters)).digest('base64url').slice(0, 16);
}

/** JSON with keys sorted and undefined left out, so that the same filters give the same digest. */
function canonical(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object') {
    return `{${Object.keys(v as Record<string, unknown>).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
