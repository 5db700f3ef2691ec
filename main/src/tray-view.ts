// The tray's menu, icon and tool tip, built from the menu state: drawn within `debounceMs`
// of any change (changes close together make one drawing), and again when a countdown's
// text changes (countdown-redraw.ts).

import type { Timers } from '../../common/clock.ts';
import { buildMenu, trayIconState, trayToolTip, type MenuState } from './menu-model.ts';
import { CountdownRedraw } from './countdown-redraw.ts';
import type { Shell } from './shell.ts';

export interface TrayViewDeps {
  shell: Pick<Shell, 'render'>;
  timers: Timers;
  /** The longest wait between a change and the drawing (default 250 ms). */
  debounceMs?: number;
  menuState(): MenuState;
  /** How long before its expiry access shows as expiring in the icon. */
  warningWindowMs(): number;
}

export class TrayView {
  private renderTimer: unknown = null;
  private readonly countdown: CountdownRedraw;

  constructor(private readonly d: TrayViewDeps) {
    this.countdown = new CountdownRedraw(d.timers, () => this.render());
  }

  /** Draws soon: within `debounceMs`, once for every change until then. */
  scheduleRender(): void {
    if (this.renderTimer !== null) return;
    this.renderTimer = this.d.timers.setTimeout(() => {
      this.renderTimer = null;
      this.render();
    }, this.d.debounceMs ?? 250);
  }

  /** Builds the menu and icon now, and plans the next drawing for the countdowns. */
  render(): void {
    const s = this.d.menuState();
    this.d.shell.render(buildMenu(s), trayIconState(s, this.d.warningWindowMs()), trayToolTip(s));
    this.countdown.plan(s.myRequests, s.now);
  }

  stop(): void {
    if (this.renderTimer !== null) this.d.timers.clearTimeout(this.renderTimer);
    this.renderTimer = null;
    this.countdown.stop();
  }
}
