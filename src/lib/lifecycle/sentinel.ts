import type { ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { isDebuggerOpen } from '../primitives/inspector.js';
import { createLineLogger } from '../primitives/line-logger.js';
import type { Logger, LoggerOptions } from '../primitives/log.js';

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
 * The stall sentinel (`armStallSentinel`) is the main watchdog of a service with no worker
 * threads: main pulses over the pipe, and the sentinel strikes when the pulses stop.
 *
 * A process, not a thread: a worker thread's isolate cost the service 9 MiB of RSS for good
 * even once terminated (Node keeps it), and the exit waited for it to start, 18 ms on every
 * clean stop; spawning the child takes 4-6 ms of main's time and leaves nothing behind.
 * The child runs in a session of its own (`detached`), so a terminal's INT or a process
 * group's TERM meant for the service does not end it; it is unref'd, never holding the
 * process alive. Not while a debugger is attached (a breakpoint in main is no stuck process);
 * none where there is no `/bin/sh` or coreutils (a distroless image): one warning says so.
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
  /** Where the one warning goes that no sentinel can run here (the service's logger). */
  log?: Pick<Logger, 'warn'>;
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
  if (isDebuggerOpen() || !canRun(options.log)) return undefined;
  const graceMs = options.graceMs ?? sentinelGraceMs;
  const { message, field } = limits[limit];
  const line = fatalLine(options.logger, message, {
    [field]: options.limitMs,
    graceMs,
    signal: 'SIGKILL',
  });
  const pipe = spawnSentinel(oneShot, [seconds(options.limitMs + graceMs)], line);
  return pipe === undefined ? undefined : { disarm: () => void pipe.destroy() };
}

/**
 * How long the stall sentinel waits for a pulse once more after the limit passed with none:
 * a process resumed after a pause of the whole container (`docker pause`, a frozen VM) finds
 * the sentinel's `timeout` expired at once, and main has not had its turn to pulse yet.
 */
export const resumeGraceMs = 2000;

/**
 * The main thread's watchdog where no worker thread keeps it (threads/main-watchdog.ts): a
 * service with no worker threads, from `ready` until its shutdown begins (whose sentinel takes
 * over). Main writes a byte to the sentinel's pipe every quarter of the limit; the sentinel,
 * reading them, strikes when none came for the limit and then for a grace more (at least
 * `resumeGraceMs`, and more than a pulse's interval), unless main is stopped (SIGSTOP, a
 * terminal's ^Z, a debugger's ptrace stop, read from `/proc`), which is no stall: the pause of
 * main alone, which the worker threads' watch never sees (they stop with it). While a debugger
 * is attached (`--inspect`, or SIGUSR1 at run time) there is no sentinel (a breakpoint in main
 * is no stall); one is armed again once it has gone. Returns undefined when none can run here
 * (`canRun`: one warning says so) or its first could not be started.
 */
export function armStallSentinel(options: Omit<SentinelOptions, 'graceMs'>): Sentinel | undefined {
  if (!canRun(options.log)) return undefined;
  // Each pulse costs the sentinel a `timeout` and a `head` (~10 ms of CPU): a quarter of the
  // limit apart, 0.13% of a core at the default 30 s. The grace covers a pulse's interval and
  // the timer's lateness too, so that a main thread silent for less than the limit is never
  // taken for stalled.
  const pulseEveryMs = options.limitMs / 4;
  const graceMs = Math.max(resumeGraceMs, pulseEveryMs + 1000);
  const line = fatalLine(
    options.logger,
    'main thread stalled past MAIN_STALL_LIMIT_MS; killing the process',
    { limitMs: options.limitMs, graceMs, signal: 'SIGKILL' },
  );
  const args = [seconds(options.limitMs), seconds(graceMs)];
  let pipe: Writable | undefined;
  let pulsedAt = 0;
  const arm = (): boolean => {
    pipe = spawnSentinel(pulsed, args, line);
    pulsedAt = performance.now();
    return pipe !== undefined;
  };
  const drop = (): void => {
    pipe?.destroy();
    pipe = undefined;
  };
  if (!isDebuggerOpen() && !arm()) return undefined;
  // Checked four times a second (the debugger may open at any moment); written less often.
  const timer = setInterval(() => {
    if (isDebuggerOpen()) return drop();
    if (pipe === undefined) return void arm();
    // A sentinel that ended (killed by hand) is not replaced: a shell that cannot run would be
    // started again four times a second.
    if (pipe.destroyed || performance.now() - pulsedAt < pulseEveryMs) return;
    pulsedAt = performance.now();
    pipe.write('.');
  }, 250);
  timer.unref();
  return {
    disarm: () => {
      clearInterval(timer);
      drop();
    },
  };
}

/**
 * What a sentinel runs besides the shell and its builtins (`kill`, `[`): `printf` runs under
 * `timeout`, so as a program.
 */
export const sentinelPrograms = ['timeout', 'cat', 'head', 'printf', 'date'] as const;

/** The `sentinelPrograms` not found on `path` (a PATH), and `/bin/sh` if it is missing. */
export function missingPrograms(path: string): string[] {
  const fs = process.getBuiltinModule('node:fs');
  const runnable = (file: string): boolean => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const dirs = path.split(':').filter((dir) => dir !== '');
  return [
    ...(runnable('/bin/sh') ? [] : ['/bin/sh']),
    ...sentinelPrograms.filter((name) => !dirs.some((dir) => runnable(`${dir}/${name}`))),
  ];
}

/** The PATH the sentinels run with: the service's own. */
function sentinelPath(): string {
  return process.env['PATH'] ?? '/usr/bin:/bin';
}

/** What `missingPrograms` found, looked up once per process. */
let missing: string[] | undefined;

/**
 * Whether sentinels can run here. The first time they cannot (a distroless image, a PATH
 * without coreutils) one warning says so, naming what is missing: a stuck main thread will
 * then not be killed, and the operator should know before it happens.
 */
function canRun(log: Pick<Logger, 'warn'> | undefined): boolean {
  if (missing !== undefined) return missing.length === 0;
  missing = missingPrograms(sentinelPath());
  if (missing.length === 0) return true;
  log?.warn(
    { missing },
    'no sentinel can run here: a main thread stuck past start-up, the shutdown deadline or MAIN_STALL_LIMIT_MS will not be killed',
  );
  return false;
}

/** Whole seconds, rounded up: what `timeout` is given. */
function seconds(ms: number): string {
  return String(Math.ceil(ms / 1000));
}

/**
 * Starts a sentinel running `script` with `args`, then the fatal line's two halves and main's
 * pid; returns main's end of its pipe, or undefined when none could be started.
 */
function spawnSentinel(
  script: string,
  args: string[],
  [head, tail]: [string, string],
): Writable | undefined {
  let child: ChildProcess;
  try {
    child = process.getBuiltinModule('node:child_process').spawn(
      '/bin/sh',
      ['-c', `${script}\n${strike}`, 'sentinel', ...args, head, tail, String(process.pid)],
      // stdout: the service's own, for the fatal line; nothing else of main's is inherited.
      { stdio: ['pipe', 'inherit', 'ignore'], detached: true, env: { PATH: sentinelPath() } },
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
  return pipe;
}

/**
 * How a sentinel's wait is bounded: `timeout` ends the command with SIGKILL, and so with 137,
 * in coreutils (whose own 124 is only for a signal the command can catch) and in busybox (which
 * runs the command in its own process and signals it: with the default TERM, 143, never 124).
 * 124 is taken as a timeout too (another `timeout`'s); any other code (the command ended by
 * itself, or `timeout` could not run) ends the sentinel with nothing done.
 */
const timedOut = '124|137';

/**
 * The one-shot sentinel's wait. Argument: whole seconds. `cat` ends by itself (0) when main
 * closes the pipe or ends.
 */
const oneShot = `timeout -s KILL "$1" cat > /dev/null
case $? in ${timedOut}) ;; *) exit 0 ;; esac`;

/**
 * The stall sentinel's wait. Arguments: the limit and the resume grace, in whole seconds.
 * `head -c 1` ends with a byte (a pulse), or with none when main closed the pipe or ended;
 * `timeout` ends it when no byte came in time. Past the limit and the grace with no pulse,
 * main is stalled unless it is stopped (state T or t in /proc/PID/stat, after the command's
 * name, which may hold spaces or parentheses); then the wait begins again.
 */
const pulsed = `wait_pulse() {
  b=$(timeout -s KILL "$1" head -c 1)
  case $? in
    ${timedOut}) return 1 ;;
    0) [ -n "$b" ] && return 0 ;;
  esac
  exit 0
}
while :; do
  wait_pulse "$1" && continue
  wait_pulse "$2" && continue
  s=$(cat "/proc/$5/stat") || exit 0
  s=\${s##*) }
  case \${s%% *} in
    T|t) ;;
    *) break ;;
  esac
done`;

/**
 * The strike, after the wait: the fatal line (its time the strike's, to the second: the
 * portable `date` format) bounded to a second, since a stdout nobody reads may be what holds
 * main, then SIGKILL. The last three arguments: the line before and after its time, main's pid.
 */
const strike = `shift $(($# - 3))
timeout 1 printf '%s%s%s\\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$2"
kill -9 "$3"`;

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
