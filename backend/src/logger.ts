// One-line JSON logs on stderr. Callers pass fields, never secrets: tokens, passwords and
// access details are not logged anywhere.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const ORDER: LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function createLogger(level: LogLevel = (process.env.LAPSE_LOG_LEVEL as LogLevel) || 'info', write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const min = ORDER.indexOf(level) >= 0 ? ORDER.indexOf(level) : 1;
  const emit = (lvl: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER.indexOf(lvl) < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg: message, ...fields }));
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
