// The Activity list's cursor: where the next page of audit events starts, in which order.
// Opaque to clients (base64url of a small JSON document); whatever a client sends back is
// checked field by field, so a cursor that was altered is refused with a clear error rather
// than read as some other position.

export type AuditOrder = 'asc' | 'desc';

export interface AuditCursor {
  order: AuditOrder;
  /** The seq of the last event of the page before: the next page starts after it. */
  seq: number;
}

const VERSION = 1;

export function encodeAuditCursor(c: AuditCursor): string {
  return Buffer.from(JSON.stringify({ v: VERSION, o: c.order, s: c.seq }), 'utf8').toString('base64url');
}

/** The cursor a client sent back; throws an Error saying what is wrong with it. */
export function decodeAuditCursor(text: string): AuditCursor {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) throw new Error('the cursor is not one this server gave (not base64url)');
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new Error('the cursor is not one this server gave (not readable)');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('the cursor is not one this server gave');
  const { v, o, s, ...rest } = doc as Record<string, unknown>;
  if (v !== VERSION || Object.keys(rest).length > 0) throw new Error('the cursor is not one this server gave (unknown version)');
  if (o !== 'asc' && o !== 'desc') throw new Error('the cursor is not one this server gave (no order)');
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) throw new Error('the cursor is not one this server gave (no position)');
  return { order: o, seq: s };
}
