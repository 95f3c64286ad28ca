/**
 * What code in any thread needs from its process: the shutdown signal, `die()`, and the
 * error-report seam. In the main thread the shutdown coordinator provides it; in a worker
 * thread the worker runtime does, forwarding `die()` to the main thread.
 */
export interface ProcessControl {
  /** Aborts when shutdown starts. */
  readonly signal: AbortSignal;
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
