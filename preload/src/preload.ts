// The one bridge between the renderer and main: exactly the renderer's LapseApi, exposed as
// `window.lapse` with contextBridge. Each method is one IPC call on its own channel; main
// validates the payload and answers { ok, value } or { ok: false, error }. Bundled into a
// single CommonJS file (a sandboxed preload can require nothing but electron).

import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import {
  LAPSE_API_GLOBAL, LAPSE_API_METHODS, LAPSE_CALL_CHANNEL_PREFIX, LAPSE_EVENTS_CHANNEL,
  type ApiErrorData, type LapseApi, type LapseApiMethod, type StreamMessage,
} from '../../common/lapse-api.ts';

type Reply = { ok: true; value: unknown } | { ok: false; error: ApiErrorData };

async function invoke(method: LapseApiMethod, args: unknown[]): Promise<unknown> {
  const reply = (await ipcRenderer.invoke(`${LAPSE_CALL_CHANNEL_PREFIX}${method}`, ...args)) as Reply;
  // Rejects with the plain problem data: an Error crossing contextBridge keeps only its
  // message, plain data keeps every field (the renderer reads it with ApiError.from).
  if (!reply.ok) throw { ...reply.error };
  return reply.value;
}

const calls = Object.fromEntries(LAPSE_API_METHODS.map((m) => [m, (...args: unknown[]) => invoke(m, args)])) as Omit<LapseApi, 'host' | 'subscribe'>;

const api: LapseApi = {
  host: 'desktop',
  ...calls,
  subscribe(onMessage: (message: StreamMessage) => void) {
    const listener = (_e: IpcRendererEvent, message: StreamMessage) => onMessage(message);
    ipcRenderer.on(LAPSE_EVENTS_CHANNEL, listener);
    return () => {
      ipcRenderer.removeListener(LAPSE_EVENTS_CHANNEL, listener);
    };
  },
};

contextBridge.exposeInMainWorld(LAPSE_API_GLOBAL, api);
