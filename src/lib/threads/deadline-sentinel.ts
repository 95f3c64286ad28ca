import { Worker } from 'node:worker_threads';
import type { LoggerOptions } from '../primitives/log.js';

/**
 * The shutdown deadline's own thread. The deadline is a timer of the main thread, and the
 * main watchdog lives in the worker threads (main-watchdog.ts): once the shutdown has stopped
 * those, a main thread stuck in synchronous work (a close or flush step that never returns,
 * a catastrophic regular expression, a native call) runs no timer and is watched by nobody.
 * Measured before this existed: SHUTDOWN_DEADLINE_MS=3000, the main thread blocked for 30 s in
 * the close phase (`FAULT=shutdown-stall:30000`), TERM: the process exited 31.5 s later; a
 * failure's shutdown stuck that way would leave a process that looks alive for ever (its
 * supervisor never asked it to stop, so never kills it).
 *
 * So when the shutdown starts, one small thread is started outside the nanny, unref'd (it
 * never keeps the process alive, and a clean exit ends it): if the process is still there
 * `graceMs` after the deadline, the time the deadline's own exit takes at most, the thread
 * writes one fatal line and kills the process with SIGKILL, which needs no JavaScript in main.
 */

/** What the sentinel thread receives. */
export interface SentinelInit {
  /** When it strikes: `Date.now()` at the shutdown's start plus the deadline and the grace. */
  strikeAt: number;
  deadlineMs: number;
  graceMs: number;
  /** Who writes the fatal line (app, thread, version). */
  logger: Omit<LoggerOptions, 'destination' | 'level'>;
}

/**
 * The most the deadline's exit takes past the deadline (exit-path.ts): error reports' flush
 * (1 s), the worker threads' end (2 s), and a second for the rest.
 */
export const sentinelGraceMs = 4000;

export interface DeadlineSentinelOptions {
  deadlineMs: number;
  graceMs?: number;
  logger: Omit<LoggerOptions, 'destination' | 'level'>;
}

/**
 * Starts the sentinel, counting from now (call it when the shutdown starts). Not while a
 * debugger is attached: a breakpoint in main is no stuck shutdown. Returns the thread, or
 * undefined when none was started.
 */
export function startDeadlineSentinel(options: DeadlineSentinelOptions): Worker | undefined {
  if (process.getBuiltinModule('node:inspector').url() !== undefined) return undefined;
  const graceMs = options.graceMs ?? sentinelGraceMs;
  const init: SentinelInit = {
    strikeAt: Date.now() + options.deadlineMs + graceMs,
    deadlineMs: options.deadlineMs,
    graceMs,
    logger: options.logger,
  };
  const thread = new Worker(new URL('./deadline-sentinel.worker.js', import.meta.url), {
    name: 'deadline-sentinel',
    workerData: init,
    // Its stdout and stderr stay its own (it writes neither): Node's default would pipe them
    // into process.stdout, whose making turns fd 1 non-blocking (worker-host.ts).
    stdout: true,
    stderr: true,
    // It needs a timer and one write: the smallest heap V8 allows. No preload runs in it (an
    // APM's `--import` in NODE_OPTIONS or on the command line): one could kill so small a
    // thread, and the tests' probes count the threads they run in.
    resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 },
    execArgv: [],
    env: {},
  });
  thread.unref();
  // Ended by the process's exit, or failed to start (out of memory, no threads left): either
  // way there is nothing to do about it here.
  thread.on('error', () => undefined);
  return thread;
}
