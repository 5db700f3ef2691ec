// Integration credentials are never written in the configuration: a connection names an
// environment variable (`passwordEnv: LAPSE_PG_PASSWORD`) or a file (`passwordFile:
// /etc/lapse/pg.pw`) that holds the secret, and the secret is read when the integration is
// created. Error messages name the variable or the file, never what it holds.

import { readFileSync } from 'node:fs';

export class CredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialError';
  }
}

/**
 * Reads the secret `name` (e.g. "password", "secret") of a connection: from the
 * environment variable `<name>Env` or the file `<name>File` (one trailing newline dropped).
 * Undefined when neither is given, unless `required`.
 */
export function resolveSecret(
  connection: Record<string, unknown>,
  name: string,
  opts: { integration: string; env: NodeJS.ProcessEnv; required?: boolean },
): string | undefined {
  const envKey = `${name}Env`;
  const fileKey = `${name}File`;
  const where = `integration "${opts.integration}"`;
  const envName = connection[envKey];
  const file = connection[fileKey];
  if (typeof envName === 'string') {
    const value = opts.env[envName];
    if (value === undefined || value === '') throw new CredentialError(`${where}: connection.${envKey} names the environment variable ${envName}, which is not set`);
    return value;
  }
  if (typeof file === 'string') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CredentialError(`${where}: connection.${fileKey}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const value = text.replace(/\r?\n$/, '');
    if (value === '') throw new CredentialError(`${where}: connection.${fileKey}: ${file} is empty`);
    return value;
  }
  if (opts.required) throw new CredentialError(`${where}: connection.${envKey} or connection.${fileKey} is required`);
  return undefined;
}

// What a target says back (a command's stderr, a webhook receiver's answer, a database
// driver's error) goes into error messages, and from there into a grant's lastError, the
// API and the audit. It may echo a secret, and not necessarily as it is: encoded, wrapped
// over two lines, cut off. So such output reaches an error only as a redacted excerpt
// (redactedExcerpt), and never otherwise.

/** How many characters of a target's output an error shows at most (its end). */
export const EXCERPT_MAX = 300;
/** Any run of this many characters that also occurs in a shape of a secret is removed. */
export const FRAGMENT_LENGTH = 8;
/** A secret shorter than this cannot be told from ordinary text: output is withheld instead. */
export const MIN_SECRET_LENGTH = 4;
/** Only the end of a longer output is looked at (the excerpt is its end). */
const SCAN_MAX = 256 * 1024;
const REDACTED = '[redacted]';
const WITHHELD = `[output withheld: a secret of this integration is shorter than ${MIN_SECRET_LENGTH} characters, too short to be redacted]`;

/**
 * Characters that matching skips, in the output and in the secret alike: white space,
 * line breaks, control and format characters. A secret wrapped over lines, or with a
 * zero-width character slipped in, is still one run.
 */
const SKIPPED = /^[\s\p{Cc}\p{Cf}]$/u;

/**
 * `text` without the skipped characters, in lower case (a character whose lower case has
 * another length is kept as it is), and where each remaining code unit came from.
 */
function normalize(text: string): { chars: string; at: Int32Array } {
  const units: string[] = [];
  const at = new Int32Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const len = cp > 0xffff ? 2 : 1;
    const ch = text.slice(i, i + len);
    if (!SKIPPED.test(ch)) {
      const lower = ch.toLowerCase();
      const folded = lower.length === len ? lower : ch;
      for (let k = 0; k < len; k++) {
        units.push(folded[k]!);
        at[n++] = i + k;
      }
    }
    i += len;
  }
  return { chars: units.join(''), at: at.subarray(0, n) };
}

function strip(text: string): string {
  return normalize(text).chars;
}

/**
 * The shapes a secret may take in a target's output: as it is, JSON-escaped (also with
 * every non-ASCII character as \uXXXX), percent-encoded (also with `+` for spaces), hex, base64 and base64url. Base64 is also
 * taken at the two other alignments, for a secret encoded inside a longer value (an HTTP
 * basic authorization header): there only the characters that depend on the secret alone
 * are kept. Case does not matter (the output is folded too), which covers upper-case hex.
 * `whole`: the shapes a short secret is matched by as a whole.
 */
function shapesOf(secret: string): { whole: string[]; parts: string[] } {
  const bytes = Buffer.from(secret, 'utf8');
  const percent = encodeURIComponent(secret);
  const json = JSON.stringify(secret).slice(1, -1);
  const asciiJson = json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const whole = [secret, json, asciiJson, percent, percent.replace(/%20/g, '+'), bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')];
  const parts: string[] = [];
  for (const pad of [1, 2]) {
    const shifted = Buffer.concat([Buffer.alloc(pad), bytes]);
    const bits = shifted.length * 8;
    // The first characters hold bits of what came before; a last partial one, of what follows.
    const from = pad === 1 ? 2 : 3;
    const to = Math.floor(bits / 6);
    for (const encoding of ['base64', 'base64url'] as const) parts.push(shifted.toString(encoding).slice(from, to));
  }
  return { whole: whole.map(strip), parts: parts.map(strip) };
}

/**
 * What of a target's output may go into an error message: its end, at most `max`
 * characters, on one line (line breaks shown as ⏎, other control and format characters as
 * \uXXXX), with every known secret removed, in every shape of shapesOf, and also where only
 * a piece of one appears: any run of FRAGMENT_LENGTH characters or more that occurs in a
 * shape is replaced by "[redacted]", across line breaks and white space. A secret of 4 to
 * 7 characters is matched whole in each shape (a piece of it would match ordinary words);
 * with a shorter one nothing of the output is shown. `truncated`: the text is the end of a
 * longer output, so it may begin inside a secret; what could be such a beginning goes too.
 */
export function redactedExcerpt(text: string, secrets: ReadonlyArray<string | undefined>, opts: { max?: number; truncated?: boolean } = {}): string {
  const max = opts.max ?? EXCERPT_MAX;
  let truncated = opts.truncated ?? false;
  if (text.length > SCAN_MAX) {
    text = text.slice(-SCAN_MAX);
    truncated = true;
  }
  if (text.trim() === '') return '';
  const known = secrets.filter((s): s is string => s !== undefined && s !== '');
  if (known.some((s) => strip(s).length < MIN_SECRET_LENGTH)) return WITHHELD;
  return bound(oneLine(removeSecrets(text, known, truncated)), max);
}

function removeSecrets(text: string, secrets: string[], truncated: boolean): string {
  if (secrets.length === 0) return text;
  const fragments = new Set<string>();
  const whole = new Set<string>();
  const all: string[] = [];
  for (const secret of secrets) {
    const shapes = shapesOf(secret);
    for (const shape of [...shapes.whole, ...shapes.parts]) {
      all.push(shape);
      if (shape.length >= FRAGMENT_LENGTH) {
        for (let i = 0; i + FRAGMENT_LENGTH <= shape.length; i++) fragments.add(shape.slice(i, i + FRAGMENT_LENGTH));
      }
    }
    for (const shape of shapes.whole) if (shape.length >= MIN_SECRET_LENGTH && shape.length < FRAGMENT_LENGTH) whole.add(shape);
  }
  const { chars, at } = normalize(text);
  const hit = new Uint8Array(chars.length);
  for (let i = 0; i + FRAGMENT_LENGTH <= chars.length; i++) {
    if (fragments.has(chars.slice(i, i + FRAGMENT_LENGTH))) hit.fill(1, i, i + FRAGMENT_LENGTH);
  }
  for (const shape of whole) {
    for (let i = chars.indexOf(shape); i >= 0; i = chars.indexOf(shape, i + 1)) hit.fill(1, i, i + shape.length);
  }
  // Cut off in front: the first characters may be the end of a shape whose start is gone.
  if (truncated) hit.fill(1, 0, shapeEndAtStart(chars, all));
  let out = '';
  let from = 0;
  for (let i = 0; i < chars.length; ) {
    if (!hit[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < chars.length && hit[j + 1]) j++;
    // One run in the output, with the line breaks and spaces inside it.
    out += text.slice(from, at[i]) + REDACTED;
    from = at[j]! + 1;
    i = j + 1;
  }
  return out + text.slice(from);
}

/** The length of the longest start of `chars` that is the end of one of the shapes (0: none). */
function shapeEndAtStart(chars: string, shapes: string[]): number {
  if (chars === '') return 0;
  let longest = 0;
  for (const shape of shapes) {
    for (let k = shape.indexOf(chars[0]!, 1); k > 0; k = shape.indexOf(chars[0]!, k + 1)) {
      const end = shape.slice(k);
      if (end.length > longest && chars.startsWith(end)) longest = end.length;
    }
  }
  return longest;
}

/** One line: line breaks as ⏎, other control and format characters as \uXXXX. */
function oneLine(text: string): string {
  return text
    .trim()
    .replace(/\r\n|[\r\n\u2028\u2029]/g, '⏎')
    .replace(/[\p{Cc}\p{Cf}]/gu, (c) => {
      const cp = c.codePointAt(0)!;
      return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
    });
}

/** The end of `text`, at most `max` characters, marked with … when cut. */
function bound(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = text.slice(text.length - Math.max(0, max - 1));
  // Not half of a surrogate pair.
  if (/^[\uDC00-\uDFFF]/.test(end)) end = end.slice(1);
  return `…${end}`;
}

/** The message of an error (or anything thrown) as the text redactedExcerpt takes. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
