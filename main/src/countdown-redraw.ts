// When the tray is drawn again for its countdowns ("25 min left" turning "24 min left"):
// one timer, for the soonest change in the text of any active access.

import type { AccessRequest } from '../../common/lapse-api.ts';
import { msUntilTextChanges } from '../../common/countdown.ts';
import type { Timers } from '../../common/clock.ts';

export class CountdownRedraw {
  private timer: unknown = null;

  constructor(
    private readonly timers: Timers,
    private readonly redraw: () => void,
  ) {}

  /** After a drawing at `now` of these requests: plans the next one, in place of any planned. */
  plan(requests: AccessRequest[], now: number): void {
    this.stop();
    const waits = requests.filter((r) => r.status === 'active')
      .map((r) => msUntilTextChanges(r.expiresAt === null ? null : Date.parse(r.expiresAt), now))
      .filter((w): w is number => w !== null);
    if (waits.length) {
      this.timer = this.timers.setTimeout(() => {
        this.timer = null;
        this.redraw();
      }, Math.min(...waits));
    }
  }

  stop(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }
}
