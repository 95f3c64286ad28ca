/**
 * What both threads' loggers share, without pino (a worker thread loads this, not pino): the
 * `Logger` contract, the level values, the active span's ids for each line, and the level
 * switch that reaches every child of a root logger. The main thread's logger is pino's
 * (log.ts); a worker thread's makes the same lines without it (line-logger.ts).
 */

import type { LogFn } from 'pino';
import { currentCorrelationId } from './correlation.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A log call, typed as pino types it (`(object, message?, ...printf args)` or `(message,
 * ...args)`, the printf arguments checked against the message): a type only, so a worker
 * thread that takes it does not load pino.
 */
export type { LogFn };

/** A logger of either thread: pino's in the main thread, line-logger.ts's in a worker. */
export interface Logger {
  /** The current level's name (`silent` turns it off). Setting it changes this logger only. */
  level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  isLevelEnabled(level: string): boolean;
  /** The fields this logger adds to each line (its own and its parents'), pid left out. */
  bindings(): Record<string, unknown>;
  /** A logger that adds `bindings` to each line, at this one's level. */
  child(bindings: Record<string, unknown>): Logger;
}

/** pino's level values, by name. */
export const logLevelValues: Readonly<Record<string, number>> = {
  fatal: 60,
  error: 50,
  warn: 40,
  info: 30,
  debug: 20,
  trace: 10,
  silent: Infinity,
};

/** The active span's ids for each line; tracing installs the reader when it starts. */
type TraceFields = () => { trace_id: string; span_id: string } | undefined;
let activeTraceFields: TraceFields = () => undefined;

/**
 * The ids a line written now carries, as a new object (both loggers): the correlation id of the
 * work in hand and, with tracing on, the active span's trace_id and span_id.
 */
export function lineIds(): Record<string, unknown> {
  const correlationId = currentCorrelationId();
  const ids = correlationId === undefined ? {} : { correlationId };
  // trace_id and span_id of the active span, beside the correlation id (tracing on).
  const traced = activeTraceFields();
  return traced === undefined ? ids : { ...ids, ...traced };
}

/** Called by the trace context when this thread's tracing starts (and stops: undefined). */
export function readTraceFieldsWith(read: TraceFields | undefined): void {
  activeTraceFields = read ?? (() => undefined);
}

const children = new WeakMap<Logger, Set<WeakRef<Logger>>>();

/**
 * A root logger's family (itself and every child made from it), for setLogLevel: `add` each
 * child as it is made, and `adopt` the root once made.
 */
export function loggerFamily(): {
  add: (logger: Logger) => void;
  adopt: (root: Logger) => void;
} {
  const family = new Set<WeakRef<Logger>>();
  return {
    add: (logger) => {
      family.add(new WeakRef(logger));
    },
    adopt: (root) => {
      family.add(new WeakRef(root));
      children.set(root, family);
    },
  };
}

/** Sets the level of a root logger made by createLogger and of every child made from it. */
export function setLogLevel(root: Logger, level: LogLevel | 'silent'): void {
  const family = children.get(root);
  if (family === undefined) {
    root.level = level;
    return;
  }
  for (const ref of family) {
    const logger = ref.deref();
    if (logger === undefined) family.delete(ref);
    else logger.level = level;
  }
}

/** `Name: message` of an error, else its string; never throws (a value that cannot be shown). */
export function describeValue(value: unknown): string {
  try {
    return value instanceof Error ? `${value.name}: ${value.message}` : String(value);
  } catch {
    return '[unprintable]';
  }
}

/**
 * Writes a log call through `write`, never throwing: when its line cannot be made, `write` is
 * given what can be said of it instead (`unloggable`), and when even that fails, nothing.
 * Both loggers' calls go through it (pino's `logMethod` hook, the line logger's own).
 */
export function logSafely(
  args: readonly unknown[],
  write: (args: readonly unknown[]) => void,
): void {
  try {
    write(args);
  } catch (failure) {
    try {
      write(unloggable(args, failure));
    } catch {
      // Nothing left to write it with.
    }
  }
}

/**
 * What a log call writes when its line cannot be made (a field whose getter throws, an error
 * whose serialisation does): the message, the call's fields that are plain values, each error
 * among them as its type and message (`err` as `error`), and why the rest could not be written
 * (`logFailure`). A log call never throws: the code that logs is often handling an error
 * already, or stopping.
 */
function unloggable(args: readonly unknown[], failure: unknown): [object, string] {
  const message = [args[0], args[1]].find((a): a is string => typeof a === 'string');
  return [
    { ...plainFields(args[0]), logFailure: describeValue(failure) },
    message ?? 'a log line could not be written',
  ];
}

/** The own fields of `obj` that can be written whatever they hold; errors as text. */
function plainFields(obj: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof obj !== 'object' || obj === null) return out;
  let keys: string[];
  try {
    keys = Object.keys(obj);
  } catch {
    return out;
  }
  for (const key of keys) {
    try {
      const value = (obj as Record<string, unknown>)[key];
      if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) {
        out[key] = value;
      } else if (value instanceof Error) {
        out[key === 'err' ? 'error' : key] = describeValue(value);
      }
    } catch {
      // A getter that throws: left out.
    }
  }
  return out;
}
