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
import { FdSink } from './fd-sink.js';
import { serializeLoggedError } from './logged-error.js';

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
  /**
   * Writes what is no log line (a thread's console output) as it is: never through the pretty
   * formatter, which added a blank line to each and took JSON-looking text for a log line.
   */
  writeText?(text: string): void;
}

/** Writes console text to `sink`: as it is where the sink can, else as a line. */
export function writeText(sink: LogSink, text: string): void {
  if (sink.writeText === undefined) sink.write(text);
  else sink.writeText(text);
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
      serializers: { err: serializeLoggedError },
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
 * The main thread's sink: each line written to stdout (fd 1) at once (fd-sink.ts: a failed
 * write is reported once and the lines after it dropped), through pino-pretty's formatter when
 * asked or when stdout is a TTY. Worker threads never write to stdout: they forward lines to
 * this. `process.stdout` is left alone: made for a pipe, it turns fd 1 non-blocking.
 */
export async function createLogSink(pretty: 'auto' | 'true' | 'false'): Promise<FdSink> {
  const isTty = process.getBuiltinModule('node:tty').isatty(1);
  if (pretty === 'true' || (pretty === 'auto' && isTty)) {
    const { prettyFactory } = await import('pino-pretty');
    return new FdSink(1, prettyFactory({ colorize: isTty }));
  }
  return new FdSink(1);
}
