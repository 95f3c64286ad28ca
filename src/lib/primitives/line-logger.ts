import format from 'quick-format-unescaped';
import { configure } from 'safe-stable-stringify';
import type { LoggerOptions } from './log.js';
import {
  logLevelValues,
  lineIds,
  logSafely,
  loggerFamily,
  type Logger,
  type LogFn,
} from './logger.js';
import { redactLogLine } from './secrets.js';
import { serializeLoggedError } from './logged-error.js';

/**
 * The worker threads' logger: the lines the main thread's pino logger writes (createLogger in
 * log.ts, the same options), made without pino. A worker's lines are only serialised in the
 * worker and posted to main, which writes them; pino and its parts were 38 of the 71 modules
 * a sample worker loaded (about 17 ms of CPU and 1.6 MiB a thread at start-up, measured:
 * docs/performance.md). The same line, key for key and in the same order: level label, ISO
 * time, the bindings (base, then each child's), the correlation and trace ids, the call's
 * object (an `err`, or an Error given in its place, through the error serializer both loggers use, logged-error.ts), the
 * message (printf-style arguments formatted as pino formats them); the same last pass for
 * secrets, and the same line when a call's own cannot be made (logger.ts, `logSafely`).
 * `test/unit/primitives/line-logger.test.ts` writes the same calls through both and compares
 * the lines.
 */

type Bindings = Record<string, unknown>;

type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** pino's fallback for what JSON.stringify refuses (a cycle, a BigInt), with pino's limits. */
const stringifySafe = configure({ maximumDepth: 5, maximumBreadth: 100 });

/** pino's stringify: JSON.stringify, else the fallback, else a placeholder. */
function stringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    try {
      return stringifySafe(value);
    } catch {
      return '"[unable to serialize, circular reference is too complex to analyze]"';
    }
  }
}

/** Keys pino leaves out of a child's bindings (its options' names). */
const notBindings = new Set(['level', 'serializers', 'formatters', 'customLevels']);

/**
 * The object's own fields as pino writes them: `err` through the error serializer. A child's
 * bindings (`binding`) leave out the keys pino leaves out.
 */
function fields(obj: Bindings, binding = false): string {
  let out = '';
  for (const key in obj) {
    if (!Object.hasOwn(obj, key) || (binding && notBindings.has(key))) continue;
    let value = obj[key];
    if (value === undefined) continue;
    // pino passes every `err` through the error serializer, which leaves a non-error alone.
    if (key === 'err') value = serializeLoggedError(value);
    const text =
      typeof value === 'object' && value !== null ? stringify(value) : JSON.stringify(value);
    if (text === undefined) continue; // a function or a symbol: pino leaves it out too
    out += `,${JSON.stringify(key)}:${text}`;
  }
  return out;
}

class LineLogger implements Logger {
  level: string;
  /** The bindings as they open each line (base, then each child's, as pino writes them). */
  readonly #prefix: string;
  readonly #write: (line: string) => void;
  readonly #onChild: (child: Logger) => void;

  readonly fatal = ((...args: unknown[]) => this.#call('fatal', args)) as LogFn;
  readonly error = ((...args: unknown[]) => this.#call('error', args)) as LogFn;
  readonly warn = ((...args: unknown[]) => this.#call('warn', args)) as LogFn;
  readonly info = ((...args: unknown[]) => this.#call('info', args)) as LogFn;
  readonly debug = ((...args: unknown[]) => this.#call('debug', args)) as LogFn;
  readonly trace = ((...args: unknown[]) => this.#call('trace', args)) as LogFn;

  constructor(
    level: string,
    prefix: string,
    write: (line: string) => void,
    onChild: (child: Logger) => void,
  ) {
    this.level = level;
    this.#prefix = prefix;
    this.#write = write;
    this.#onChild = onChild;
  }

  isLevelEnabled(level: string): boolean {
    const wanted = logLevelValues[level];
    const current = logLevelValues[this.level];
    return wanted !== undefined && current !== undefined && wanted >= current;
  }

  /** The bindings, the last of a repeated key winning; pid left out, as pino does. */
  bindings(): Bindings {
    const all = JSON.parse(`{${this.#prefix.slice(1)}}`) as Bindings;
    delete all['pid'];
    return all;
  }

  child(bindings: Bindings): Logger {
    const child = new LineLogger(
      this.level,
      this.#prefix + fields(bindings, true),
      this.#write,
      this.#onChild,
    );
    this.#onChild(child);
    return child;
  }

  /** pino's handling of a call's arguments (its LOG): an object first, or the message. */
  #call(level: LevelName, args: unknown[]): void {
    if (!this.isLevelEnabled(level)) return;
    // A log call never throws: a line that cannot be made is written as what can be said.
    logSafely(args, (call) => {
      this.#parse(level, call);
    });
  }

  #parse(level: LevelName, args: readonly unknown[]): void {
    const [first, ...rest] = args;
    if (typeof first === 'object') {
      const text = first === null && rest.length === 0 ? null : rest.shift();
      this.#line(level, first, format(text, rest));
    } else {
      const text = first === undefined ? rest.shift() : first;
      this.#line(level, null, format(text, rest));
    }
  }

  /** pino's write and asJson, with this logger's options. */
  #line(level: LevelName, given: unknown, message: unknown): void {
    let msg = message;
    let obj: Bindings;
    if (given === undefined || given === null) {
      obj = {};
    } else if (given instanceof Error) {
      obj = { err: given };
      msg ??= given.message;
    } else {
      obj = given as Bindings;
      const err = obj['err'];
      if (msg === undefined && obj['msg'] === undefined && err) {
        msg = (err as { message?: unknown }).message;
      }
    }
    // pino's mixin merge: the ids first, the call's own fields over them.
    const merged = Object.assign(lineIds(), obj);
    let line = `{"level":"${level}","time":"${new Date().toISOString()}"${this.#prefix}${fields(merged)}`;
    if (msg !== undefined)
      line += `,"msg":${typeof msg === 'string' ? JSON.stringify(msg) : stringify(msg)}`;
    this.#write(redactLogLine(`${line}}\n`));
  }
}

/** A root logger for a worker thread; `setLogLevel` (logger.ts) reaches it and its children. */
export function createLineLogger(options: LoggerOptions): Logger {
  const family = loggerFamily();
  const base = {
    app: options.app,
    thread: options.thread,
    pid: process.pid,
    version: options.version,
  };
  const root = new LineLogger(
    options.level,
    fields(base),
    (line) => options.destination.write(line),
    family.add,
  );
  family.adopt(root);
  return root;
}
