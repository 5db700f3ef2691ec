// What the app says when it quits or starts in embedded mode, where the backend runs inside
// it: access is revoked on time only while the app runs. At quit, with access still active,
// the person is told so and offered to revoke it now; at the next start, the revokes that
// fell due meanwhile run first, and the app says how many did. Pure: the Electron shell
// shows the dialog (main.ts).

import type { AccessRequest } from '../../common/lapse-api.ts';
import { describeAccess } from '../../common/describe.ts';

/** The quit dialog: its message, its detail, and the access it offers to revoke. */
export interface QuitNotice {
  message: string;
  detail: string;
  /** The ids of the active access the "Revoke now" button ends. */
  revoke: string[];
}

/** The quit dialog's buttons, in order: revoke then quit, quit keeping the access, stay. */
export const QUIT_BUTTONS = ['Revoke now and quit', 'Quit and keep it', 'Cancel'] as const;

/**
 * What to say before quitting: nothing (null) for a team server (it revokes on time
 * without the app) or without active access; in embedded mode with active access, that it
 * stays until the app runs again, and an offer to revoke it now.
 */
export function quitNotice(embedded: boolean, myRequests: readonly AccessRequest[]): QuitNotice | null {
  if (!embedded) return null;
  const active = myRequests.filter((r) => r.status === 'active');
  if (active.length === 0) return null;
  const one = active.length === 1;
  const what = active.slice(0, 5).map((r) => `• ${describeAccess(r)}`).join('\n') + (active.length > 5 ? `\n• and ${active.length - 5} more` : '');
  return {
    message: one ? 'You still have active access.' : `${active.length} of your requests are still active.`,
    detail: `Lapse runs embedded in this app: access is revoked on time only while the app runs. Once it is closed, ${one ? 'this access stays' : 'they stay'} until Lapse starts again, which revokes what fell due meanwhile.\n\n${what}`,
    revoke: active.map((r) => r.id),
  };
}

/** What the app says at start when revokes that fell due while it was closed were run; null when none were. */
export function overdueRevokesText(count: number): string | null {
  if (count <= 0) return null;
  return count === 1 ? '1 revoke that fell due while Lapse was closed was run' : `${count} revokes that fell due while Lapse was closed were run`;
}
