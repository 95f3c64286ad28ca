import type { LogSink } from '../primitives/log.js';

/**
 * The exits that skip the shutdown steps (the deadline, a second signal): the log is flushed,
 * then error reports, bounded, once the telemetry that holds them has started; a further call
 * exits without waiting again. Only this and a clean run's exit code end the process.
 */
export class ExitPath {
  readonly #logSink: LogSink;
  #flush: (() => Promise<void>) | undefined;
  #exiting = false;

  constructor(logSink: LogSink) {
    this.#logSink = logSink;
  }

  /** What to flush before such an exit (the error reports); set once telemetry started. */
  flushWith(flush: () => Promise<void>): void {
    this.#flush = flush;
  }

  exit(code: number): void {
    this.#logSink.flushSync();
    if (this.#exiting || this.#flush === undefined) process.exit(code);
    this.#exiting = true;
    void this.#flush().finally(() => process.exit(code));
  }
}
