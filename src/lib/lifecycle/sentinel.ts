import type { ChildProcess } from 'node:child_process';
import { createLineLogger } from '../primitives/line-logger.js';
import type { LoggerOptions } from '../primitives/log.js';

/**
 * Sentinels: the process's own kill switch for a main thread too stuck to keep a deadline of
 * its own. Start-up's limit (STARTUP_TIMEOUT_MS) and the shutdown's deadline are timers of the
 * main thread, and the main watchdog lives in the worker threads (threads/main-watchdog.ts),
 * which are not started yet during start-up and stopped late in the shutdown: a main thread
 * stuck in synchronous work then (a set-up step's `execSync` of a command that waits for ever,
 * a close or flush step that never returns, a catastrophic regular expression, a native call)
 * runs no timer and is watched by nobody. Measured before: SHUTDOWN_DEADLINE_MS=3000, main
 * blocked for 30 s in the close phase (`FAULT=shutdown-stall:30000`), TERM: exit 31.5 s later;
 * a start-up stuck so (`FAULT=stall:startup`) never ended. Either would leave a process that
 * looks alive for ever: its supervisor, seeing it run (or never having asked it to stop),
 * never kills it.
 *
 * A sentinel is a small child process, started with the deadline (`/bin/sh`, `timeout`, `cat`:
 * POSIX and coreutils or busybox, in any Debian or Alpine image). It reads a pipe from main
 * until the deadline: when main ends (a clean exit, a crash) or disarms it, the pipe closes
 * and the sentinel ends with nothing done; when the deadline comes first, main is stuck, and
 * the sentinel writes one fatal line to the service's stdout (bounded to a second, since a
 * stdout nobody reads may be what holds main) and kills main with SIGKILL, which needs no
 * JavaScript there. The pipe being still open at that moment is what says main is still the
 * process it was started by, so a reused pid cannot be hit.
 *
 * A process, not a thread: a worker thread's isolate cost the service 9 MiB of RSS for good
 * even once terminated (Node keeps it), and the exit waited for it to start, 18 ms on every
 * clean stop; spawning the child takes 4-6 ms of main's time and leaves nothing behind.
 * The child runs in a session of its own (`detached`), so a terminal's INT or a process
 * group's TERM meant for the service does not end it; it is unref'd, never holding the
 * process alive. Not while a debugger is attached (a breakpoint in main is no stuck process);
 * none where there is no `/bin/sh` (a distroless image), with nothing said.
 */

/** What main holds of an armed sentinel. */
export interface Sentinel {
  /** Ends it: nothing will be written or killed. Idempotent. */
  disarm(): void;
}

/**
 * The most the shutdown deadline's own exit takes past it (runtime/exit-path.ts): error
 * reports' flush (1 s), the worker threads' end (2 s), and a second for the rest. Start-up's
 * limit gets the same: main's own timer, had it run, would have begun the shutdown by then.
 */
export const sentinelGraceMs = 4000;

type LineLogger = Omit<LoggerOptions, 'destination' | 'level'>;

/** The limits a sentinel guards, each with its fatal line's message and the limit's field. */
const limits = {
  shutdown: {
    message: 'the process outlived its shutdown deadline (main thread stuck); killing it',
    field: 'deadlineMs',
  },
  startup: {
    message: 'start-up outlived STARTUP_TIMEOUT_MS (main thread stuck); killing the process',
    field: 'timeoutMs',
  },
} as const;

export interface SentinelOptions {
  /** The limit: SHUTDOWN_DEADLINE_MS, or STARTUP_TIMEOUT_MS. */
  limitMs: number;
  graceMs?: number;
  /** Who writes the fatal line (app, thread, version). */
  logger: LineLogger;
}

/**
 * Arms a sentinel over `limit`, counting from now: the shutdown's when it starts; start-up's
 * before it begins, disarmed once start-up has settled or a shutdown (which arms its own) has
 * begun. It strikes `graceMs` past the limit. Returns undefined when none was armed.
 */
export function armSentinel(
  limit: keyof typeof limits,
  options: SentinelOptions,
): Sentinel | undefined {
  if (process.getBuiltinModule('node:inspector').url() !== undefined) return undefined;
  const graceMs = options.graceMs ?? sentinelGraceMs;
  const { message, field } = limits[limit];
  const [head, tail] = fatalLine(options.logger, message, {
    [field]: options.limitMs,
    graceMs,
    signal: 'SIGKILL',
  });
  const seconds = Math.ceil((options.limitMs + graceMs) / 1000);
  let child: ChildProcess;
  try {
    child = process.getBuiltinModule('node:child_process').spawn(
      '/bin/sh',
      ['-c', script, 'sentinel', String(seconds), head, tail, String(process.pid)],
      // stdout: the service's own, for the fatal line; nothing else of main's is inherited.
      { stdio: ['pipe', 'inherit', 'ignore'], detached: true, env: { PATH: '/usr/bin:/bin' } },
    );
  } catch {
    return undefined;
  }
  // No shell or no process left to start: there is nothing to do about it here.
  child.on('error', () => undefined);
  child.unref();
  const pipe = child.stdin;
  if (pipe === null) return undefined;
  // The pipe is unref'd too (a Socket), and its end is the sentinel's: no error of its matters.
  pipe.on('error', () => undefined);
  (pipe as typeof pipe & { unref(): void }).unref();
  return { disarm: () => void pipe.destroy() };
}

/**
 * The sentinel's script. Arguments: whole seconds to wait, the fatal line before and after its
 * time, main's pid. `timeout` ends `cat` with 124 when the time is up; `cat` ends by itself (0)
 * when main closes the pipe or ends. The line's time is the strike's, to the second (the
 * portable `date` format).
 */
const script = `timeout "$1" cat > /dev/null
[ $? -eq 124 ] || exit 0
timeout 1 printf '%s%s%s\\n' "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$3"
kill -9 "$4"`;

/** The fatal line the sentinel writes, split where its time goes. */
function fatalLine(
  logger: LineLogger,
  message: string,
  fields: Record<string, number | string>,
): [string, string] {
  let line = '';
  const log = createLineLogger({
    ...logger,
    level: 'fatal',
    destination: { write: (text: string) => void (line = text) },
  });
  log.fatal(fields, message);
  const time = /"time":"[^"]*"/.exec(line);
  if (time === null) return [line.trimEnd(), ''];
  const at = time.index + '"time":"'.length;
  return [line.slice(0, at), line.slice(time.index + time[0].length - 1).trimEnd()];
}
