// Compact durations as written in the configuration and shown in the UI: "45s", "90m",
// "1h30m", "2d", "1w". Pure: no I/O, no Node imports.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/**
 * The longest duration accepted anywhere (a request, an extension, a setting): 3650 days,
 * about ten years. Longer is "indefinite", not a number: every instant Lapse computes from
 * a duration stays one a date can hold.
 */
export const MAX_DURATION_MS = 3650 * DAY;

/** Units in the only order they may be written in, largest first; each at most once. */
const DURATION_PATTERN = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const EXAMPLES = '"90m", "1h" or "1h30m"';

/**
 * Parses a compact duration into milliseconds. Accepts one or more `<integer><unit>` parts
 * with units w, d, h, m, s, largest unit first, each unit at most once ("1h30m", "1d12h",
 * "90m", "45s"). Throws for anything else, including zero and negative durations.
 */
export function parseDuration(text: string): number {
  const match = typeof text === 'string' && text !== '' ? DURATION_PATTERN.exec(text) : null;
  if (match === null) {
    throw new Error(`expected a duration such as ${EXAMPLES}, got ${JSON.stringify(text)}`);
  }
  const [, w, d, h, m, s] = match;
  const total =
    Number(w ?? 0) * WEEK + Number(d ?? 0) * DAY + Number(h ?? 0) * HOUR + Number(m ?? 0) * MINUTE + Number(s ?? 0) * SECOND;
  if (total === 0) {
    throw new Error(`expected a duration longer than zero such as ${EXAMPLES}, got ${JSON.stringify(text)}`);
  }
  if (!Number.isSafeInteger(total) || total > MAX_DURATION_MS) {
    throw new Error(`expected a duration of at most 3650d (about ten years), such as ${EXAMPLES}, got ${JSON.stringify(text)}, which is too long; longer access is "indefinite", where a flow allows it`);
  }
  return total;
}

/**
 * Formats milliseconds in the compact form parseDuration reads back: "1h30m", "2d", "45s".
 * The largest unit used is the day ("7d", not "1w"). Parts of a second round up, so a
 * positive duration below a second is "1s"; zero is "0s". Throws for negative or
 * non-finite input.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`expected a duration of zero or more milliseconds, got ${ms}`);
  }
  let seconds = Math.ceil(ms / SECOND);
  if (seconds === 0) return '0s';
  const days = Math.floor(seconds / 86400);
  seconds -= days * 86400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  let out = '';
  if (days > 0) out += `${days}d`;
  if (hours > 0) out += `${hours}h`;
  if (minutes > 0) out += `${minutes}m`;
  if (seconds > 0) out += `${seconds}s`;
  return out;
}
