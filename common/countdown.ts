// Countdown text for access that lapses: "59 s left", "42 min left", "1 h 5 min left",
// "2 days left", "expired", "indefinite". Pure; the caller passes the time.

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const DAY = 24 * H;

/** How much time is left, in words a person reads at a glance in a menu. */
export function countdownText(expiresAt: number | null, now: number): string {
  if (expiresAt === null) return 'indefinite';
  const left = expiresAt - now;
  if (left <= 0) return 'expired';
  return `${durationWords(left)} left`;
}

/**
 * A remaining time in words, rounded down to the unit shown: under a minute in seconds
 * (the last second reads "1 s"), under an hour in minutes, under a day in hours and
 * minutes, then days (and hours under a week).
 */
export function durationWords(ms: number): string {
  if (ms < MIN) return `${Math.max(1, Math.floor(ms / S))} s`;
  if (ms < H) return `${Math.floor(ms / MIN)} min`;
  if (ms < DAY) {
    const h = Math.floor(ms / H);
    const m = Math.floor((ms % H) / MIN);
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  const d = Math.floor(ms / DAY);
  const h = Math.floor((ms % DAY) / H);
  const days = `${d} ${d === 1 ? 'day' : 'days'}`;
  return d < 7 && h ? `${days} ${h} h` : days;
}

/**
 * Milliseconds until `countdownText` reads differently, so a menu redraws only when its
 * text changes (every second in the last minute, every minute before). Null: never.
 */
export function msUntilTextChanges(expiresAt: number | null, now: number): number | null {
  if (expiresAt === null) return null;
  const left = expiresAt - now;
  if (left <= 0) return null;
  if (left < 2 * S) return left;
  const unit = left < MIN ? S : left < DAY ? MIN : left < 7 * DAY ? H : DAY;
  // The text holds while floor(left / unit) holds: it changes 1 ms below that multiple.
  return left - Math.floor(left / unit) * unit + 1;
}
