import { pino, type DestinationStream } from 'pino';
import {
  lineIds,
  logSafely,
  loggerFamily,
  type LogFn,
  type Logger,
  type LogLevel,
} from './logger.js';
import { redactLogLine } from './secrets.js';

/**
 * The logger factory. JSON lines (pretty on a TTY, in the main thread only), each carrying
 * app, thread, pid, version and the active correlation id. Secrets are redacted by a last pass
 * over each finished line (secrets.ts): fields named like secrets at any depth, every secret
 * the config marked, and URL userinfo. Not by pino's `redact` as well: its paths were all
 * covered by that pass, and it threw on an object with a private-field getter of a secret's
 * name, such as a `URL` (its `password`) logged as a field (line-logger.test.ts).
 * Components take `log.child({ component })`; `setLogLevel` reaches every child made so far.
 * The main thread's logger is pino; a worker thread's makes the same lines without it
 * (line-logger.ts). Both are a `Logger`: the part of pino's API the core and its apps use.
 */

export type { Logger, LogLevel };

export interface LoggerOptions {
  app: string;
  thread: string;
  version: string;
  level: LogLevel;
  destination: DestinationStream;
}

/** Where lines go: stdout, synchronously, so nothing is lost at exit. */
export interface LogSink extends DestinationStream {
  flushSync(): void;
}

export function createLogger(options: LoggerOptions): Logger {
  const family = loggerFamily();
  const root: Logger = pino(
    {
      level: options.level,
      base: {
        app: options.app,
        thread: options.thread,
        pid: process.pid,
        version: options.version,
      },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      messageKey: 'msg',
      mixin: lineIds,
      // The last pass over each finished line: secret-named keys at any depth (err.config.
      // headers.authorization), every known secret whatever its characters, URL userinfo.
      hooks: {
        streamWrite: redactLogLine,
        // A log call never throws: a line that cannot be made is written as its message and
        // why (logger.ts), as the worker threads' logger does.
        logMethod(args, method) {
          logSafely(args, (call) => {
            method.apply(this, call as Parameters<LogFn>);
          });
        },
      },
      onChild: family.add,
    },
    options.destination,
  );
  family.adopt(root);
  return root;
}

/**
 * The main thread's sink: synchronous writes to stdout (fd 1), through pino-pretty when asked
 * or when stdout is a TTY. Worker threads never write to stdout: they forward lines to this.
 */
export async function createLogSink(pretty: 'auto' | 'true' | 'false'): Promise<LogSink> {
  const usePretty = pretty === 'true' || (pretty === 'auto' && process.stdout.isTTY);
  if (usePretty) {
    const { default: build } = await import('pino-pretty');
    const stream = build({ sync: true, destination: 1, colorize: process.stdout.isTTY });
    return Object.assign(stream, {
      flushSync: () => {
        /* pino-pretty with sync: true writes through at once */
      },
    });
  }
  const stream = pino.destination({ dest: 1, sync: true });
  return stream;
}
