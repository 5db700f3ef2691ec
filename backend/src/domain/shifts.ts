// On-call rotations: who is on which shift at a given instant.
// A period runs from one local hand-off to the next, so it is 23 or 25 hours long (daily)
// across a daylight-saving change and the hand-off stays at the same local time.
// Pure: no I/O, no Node imports.

import type { ShiftConfig } from './config.ts';
import { addLocalDays, daysBetween, parseHHMM, parseLocalDate, zonedParts, zonedToInstant } from './zoned-time.ts';

function periodDays(shift: ShiftConfig): number {
  return shift.rotation === 'weekly' ? 7 : 1;
}

interface Period {
  /** Index of the period: 0 starts at anchor + handoff, negative before it. */
  index: number;
  start: number;
  end: number;
}

/** The period containing `at`: start <= at < end. */
function periodAt(shift: ShiftConfig, at: number): Period {
  const anchor = parseLocalDate(shift.anchor);
  const handoff = parseHHMM(shift.handoff);
  const length = periodDays(shift);
  const startOf = (index: number): number => {
    const date = addLocalDays(anchor.year, anchor.month, anchor.day, index * length);
    return zonedToInstant(date.year, date.month, date.day, Math.floor(handoff / 60), handoff % 60, shift.timezone);
  };
  // Estimate from the local calendar, then settle on exact instants.
  const local = zonedParts(at, shift.timezone);
  let days = daysBetween(anchor, local);
  if (local.hour * 60 + local.minute < handoff) days -= 1;
  let index = Math.floor(days / length);
  let start = startOf(index);
  while (at < start) {
    index -= 1;
    start = startOf(index);
  }
  let end = startOf(index + 1);
  while (at >= end) {
    index += 1;
    start = end;
    end = startOf(index + 1);
  }
  return { index, start, end };
}

/**
 * The member on shift at `at` (epoch ms), or null when the shift has no members.
 * members[0] holds the period starting at `anchor` + `handoff` local time, members[1] the
 * next, and so on, cycling; before the anchor the cycle continues backwards.
 */
export function currentShiftMember(shift: ShiftConfig, at: number): string | null {
  if (shift.members.length === 0) return null;
  const { index } = periodAt(shift, at);
  const n = shift.members.length;
  return shift.members[((index % n) + n) % n];
}

/** The ids of the shifts (in the order given) that `userId` is on at `at`. */
export function shiftsOf(userId: string, shifts: readonly ShiftConfig[], at: number): string[] {
  return shifts.filter((shift) => currentShiftMember(shift, at) === userId).map((shift) => shift.id);
}

/** The next hand-off strictly after `at` (epoch ms): the end of the current period. */
export function nextHandoff(shift: ShiftConfig, at: number): number {
  return periodAt(shift, at).end;
}
