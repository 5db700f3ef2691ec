// The renderer's calls over IPC: channel and arguments validated, then answered by main
// itself (connection state, settings, token, single sign-on) or passed to the server. Failures are
// CallErrors, sent to the renderer as plain data (errorData).

import type { ApiErrorData } from '../../common/lapse-api.ts';
import { methodOfChannel, validateCall, IpcPayloadError } from './ipc-validation.ts';
import type { Connection } from './menu-model.ts';
import { CallError, type ServerMethods } from './server-api.ts';
import { uiConnectionState } from './connection.ts';
import type { SettingsAndToken } from './settings-and-token.ts';

/** The server calls that change what the menu shows. */
const CHANGING_CALLS = ['createRequest', 'approve', 'deny', 'cancel', 'revoke', 'extend', 'createFavorite', 'deleteFavorite', 'requestFromFavorite'];

export interface RendererCallsDeps {
  connectionState(): Connection;
  /** The server's API now; null while there is no server to call. */
  api(): ServerMethods | null;
  settings: SettingsAndToken;
  /** Reads from the server again, after `delayMs`. */
  requestRefresh(delayMs: number): void;
}

/** One renderer call: channel and arguments validated, then answered. Throws CallError. */
export async function answerCall(d: RendererCallsDeps, channel: unknown, args: unknown): Promise<unknown> {
  let method;
  let a: unknown[];
  try {
    method = methodOfChannel(channel);
    a = validateCall(method, args);
  } catch (err) {
    if (err instanceof IpcPayloadError) throw new CallError({ status: 400, title: 'Invalid call', detail: err.message, field: err.path });
    throw err;
  }
  switch (method) {
    case 'connectionState': return uiConnectionState(d.connectionState());
    case 'getSettings': return d.settings.desktopSettings();
    case 'updateSettings': return d.settings.updateSettings(a[0]);
    case 'setToken': return d.settings.setToken(a[0] as string);
    case 'clearToken': return d.settings.clearToken();
    case 'signInWithSso': return d.settings.signInWithSso(a[0] as string | undefined);
    case 'ssoAvailable': return d.settings.ssoAvailable();
    default: {
      const api = d.api();
      if (!api) throw new CallError({ status: 0, title: 'Not connected', detail: d.connectionState().state === 'not-configured' ? 'set the server URL and token in Settings' : 'the server is not reachable; Lapse keeps retrying' });
      const fn = api[method] as (...x: unknown[]) => Promise<unknown>;
      const result = await fn(...a);
      if (CHANGING_CALLS.includes(method)) d.requestRefresh(0);
      return result;
    }
  }
}

/** A CallError as plain data for IPC (the preload turns it back into an ApiError). */
export function errorData(err: unknown): ApiErrorData {
  if (err instanceof CallError) return err.data;
  return { status: 500, title: 'Error', detail: err instanceof Error ? err.message : String(err) };
}
