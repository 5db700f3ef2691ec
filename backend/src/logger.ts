// The service's logger: pino, one JSON line per entry on stderr, or readable lines when
// stderr is a terminal. Secret-bearing fields are redacted wherever they appear in an
// entry's fields (two levels deep), whatever a caller passes by mistake.

import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { createRequire } from 'node:module';

export type Logger = PinoLogger;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Field names whose values are never written: they are replaced by "[redacted]". */
const SECRET_FIELDS = ['authorization', 'cookie', 'password', 'passwd', 'secret', 'token', 'apiKey', 'apikey', 'accessDetails', 'mfaCode', 'clientSecret', 'privateKey'];

/** Where pino looks for secrets: the field itself, one and two levels down, and request headers. */
export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

export interface LoggerOptions {
  /** Default: LAPSE_LOG_LEVEL, else info. */
  level?: LogLevel;
  /** Where the lines go (default: stderr). */
  destination?: DestinationStream;
  /** Readable lines instead of JSON (default: when stderr is a terminal and no destination is given). */
  pretty?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const envLevel = process.env.LAPSE_LOG_LEVEL;
  const level: LogLevel = opts.level ?? (isLogLevel(envLevel) ? envLevel : 'info');
  const options = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const pretty = opts.pretty ?? (!opts.destination && process.stderr.isTTY === true);
  const destination = opts.destination ?? (pretty ? prettyStream() : undefined) ?? pino.destination({ dest: 2, sync: false });
  return pino(options, destination);
}

/** Readable, coloured lines on stderr; undefined where pino-pretty is not installed (a production install without dev tools). */
function prettyStream(): DestinationStream | undefined {
  try {
    const pretty = createRequire(import.meta.url)('pino-pretty') as (o: object) => DestinationStream;
    return pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  } catch {
    return undefined;
  }
}

export const silentLogger: Logger = pino({ level: 'silent' });
