/**
 * What code in any thread needs from its process: the shutdown signal, `die()`, and the
 * error-report seam. In the main thread the shutdown coordinator provides it; in a worker
 * thread the worker runtime does, forwarding `die()` to the main thread.
 */
export interface ProcessControl {
  /** Aborts when shutdown starts. */
  readonly signal: AbortSignal;
  /**
   * Aborts when the process's shutdown reaches this thread, which for a worker thread may be
   * before its own `signal` (the workers are asked to stop one after another, and a linked
   * peer may be gone first). Absent: `signal` says it. The exception scope reads it: what
   * closing things raise is noise from then on.
   */
  readonly stopping?: AbortSignal;
  /** Records the cause of a failure and starts the shutdown. Idempotent; the first cause wins. */
  die(cause: unknown): void;
  /** Sends an application error to the error reporters (Sentry); never throws. */
  report(error: unknown, context?: Record<string, unknown>): void;
}

/** Receives application errors; the Sentry integration registers one. Must not throw. */
export type ErrorReporter = (error: unknown, context: Record<string, unknown>) => void;

/** A list of reporters with the never-throw guarantee. */
export class ErrorReporters {
  readonly #reporters: ErrorReporter[] = [];

  add(reporter: ErrorReporter): void {
    this.#reporters.push(reporter);
  }

  report(error: unknown, context: Record<string, unknown> = {}): void {
    for (const reporter of this.#reporters) {
      try {
        reporter(error, context);
      } catch {
        // A broken reporter must not turn one failure into two.
      }
    }
  }
}
