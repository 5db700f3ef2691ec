// `lapse watch [--state FILE]`: its options read and its stop on SIGINT or SIGTERM. The
// watching itself (watch.ts: the events stream, node-notifier) is loaded when it runs.

import { apiClient, apiToken, type Verb } from './args.ts';

export const watchCommand: Verb = async (_args, v, o) => {
  const api = apiClient(v);
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const { defaultStateFile, nodeNotifier, watch } = await import('./watch.ts');
  return watch({ api, token: apiToken(v), stateFile: v.state ?? defaultStateFile(api.baseUrl), notify: await nodeNotifier(), out: o.line, stop });
};
