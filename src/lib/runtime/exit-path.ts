import type { LogSink } from '../primitives/log.js';
import type { Logger } from '../primitives/logger.js';

/** How long the exit waits for worker threads to end once terminated. */
const endThreadsTimeoutMs = 2000;

/**
 * The exits that skip the shutdown steps (the deadline, a second signal): the log is flushed,
 * then error reports, bounded, once the telemetry that holds them has started; a further call
 * exits without waiting for them again. Only this and a clean run's exit code end the process.
 *
 * Worker threads are ended first. `process.exit()` waits for every worker thread to stop, and
 * one blocked in a system call (a read nothing answers) never does: the process would hang in
 * its own exit for ever, after the deadline that was to end it. Such a thread gets the process
 * killed instead (SIGKILL, one fatal line naming it and the exit code it replaces).
 */
export class ExitPath {
  readonly #logSink: LogSink;
  #flush: (() => Promise<void>) | undefined;
  #threads: { end: (timeoutMs: number) => Promise<string[]>; log: Logger } | undefined;
  #exiting = false;
  #called = false;

  constructor(logSink: LogSink) {
    this.#logSink = logSink;
  }

  /** True once `exit()` was called: the process ends by this path (lifecycle/stray-exit.ts). */
  get isExiting(): boolean {
    return this.#called;
  }

  /** What to flush before such an exit (the error reports); set once telemetry started. */
  flushWith(flush: () => Promise<void>): void {
    this.#flush = flush;
  }

  /** How to end the worker threads (resolving with those that did not end), and the log. */
  endThreadsWith(end: (timeoutMs: number) => Promise<string[]>, log: Logger): void {
    this.#threads = { end, log };
  }

  exit(code: number): void {
    this.#called = true;
    this.#logSink.flushSync();
    if (this.#exiting || this.#flush === undefined) {
      this.#endThreadsThenExit(code);
      return;
    }
    this.#exiting = true;
    void this.#flush().finally(() => this.#endThreadsThenExit(code));
  }

  #endThreadsThenExit(code: number): void {
    const threads = this.#threads;
    if (threads === undefined) process.exit(code);
    void threads.end(endThreadsTimeoutMs).then(
      (stuck) => {
        if (stuck.length === 0) process.exit(code);
        threads.log.fatal(
          { threads: stuck, exitCode: code },
          'worker threads did not end (blocked outside JavaScript); killing the process instead of exiting',
        );
        this.#logSink.flushSync();
        process.kill(process.pid, 'SIGKILL');
      },
      () => process.exit(code),
    );
  }
}
