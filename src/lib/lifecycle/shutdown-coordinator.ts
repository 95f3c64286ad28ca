import type { Logger } from '../primitives/log.js';
import { ShutdownDeadlineError, stopReason } from '../primitives/errors.js';
import { classify } from '../primitives/classify.js';
import { serializeError } from '../primitives/error-serialization.js';
import { ExitCode, exitCodeFor, type ExitCodeValue } from '../primitives/exit-codes.js';
import { maxTimerMs, raceAbort, timedOut, withTimeout } from '../primitives/waits.js';

/**
 * The one shutdown coordinator of a process. It owns the root AbortSignal; TERM, INT and
 * `die()` start it. Steps run phase by phase, last-registered first within a phase, each with
 * its own timeout; a failing step is logged and the rest still run. Past the escalation delay
 * it turns on debug logging everywhere and lists what is still open; at the hard deadline it
 * exits with the deadline code. Otherwise it resolves `done` with the exit code and leaves the
 * process to exit by itself once every handle is closed. While the steps run, the deadline
 * timer keeps the process alive: a step awaiting a promise that never settles times out
 * instead of letting the event loop empty under it (Node's exit 13 for an unsettled top-level
 * await). A shutdown that starts during start-up first waits for start-up to settle
 * (`holdStepsFor`), so what start-up registers is stopped; a step registered after its phase
 * has run is run at once.
 *
 * Each step's timeout is cut to what remains before the deadline, less a margin and, before
 * the flush phase, less what the flush phase's steps may take. The budgets of a legal config
 * can add up past the deadline (five workers stopped one by one in 8.5 s each; a Sentry flush
 * after slow workers): the deadline's timer then ended the process wherever it was, the close
 * and flush phases never run, the error report that caused the stop never sent. Cut, the
 * steps leave the rest their time, and a shutdown in which a cut step timed out still ends
 * with the deadline's code (124: it did not finish within it), by its own exit path.
 */

/**
 * A step's timeout as a timer takes it: a sum such as the stop-workers step's (the step
 * timeout per worker) can pass the longest timer, and AbortSignal.timeout() throws then (or,
 * past 2^32, warns and fires at once); a fork's step may give NaN (the step timeout then) or
 * a negative number.
 */
function timerMs(ms: number, fallbackMs: number): number {
  const wanted = Number.isNaN(ms) ? fallbackMs : ms;
  return Math.min(maxTimerMs, Math.max(1, Math.round(wanted)));
}

/**
 * How long before the deadline every step ends: the exit after the steps, and the terminations
 * a cut step leaves behind (a worker thread's: at most a second), must fit in it.
 */
export const deadlineMarginMs = 1000;

/** Shutdown phases, in the order they run. */
export const shutdownPhases = [
  /** Stop taking new work: cancel consumers, stop producers. */
  'stop-intake',
  /** Let in-flight work finish, or hand it back (nack-requeue). */
  'drain',
  /** Stop worker threads (reverse start order). */
  'stop-workers',
  /** Close channels, connections and sockets. */
  'close',
  /** Flush logs, error reports and metrics. */
  'flush',
] as const;
export type ShutdownPhase = (typeof shutdownPhases)[number];

/** The coordinator's state. */
export type CoordinatorState =
  /** Serving; the root signal is not aborted. */
  | 'running'
  /** A stop or a failure started the shutdown; steps are running. */
  | 'stopping'
  /** Every step has finished (or timed out); `done` has resolved. */
  | 'stopped';

export interface ShutdownStep {
  name: string;
  phase: ShutdownPhase;
  /** Defaults to the coordinator's step timeout. */
  timeoutMs?: number;
  /** Receives a signal that aborts when the step's timeout passes. */
  run: (signal: AbortSignal) => Promise<void> | void;
}

/** A finished step, for listeners (metrics). */
export interface FinishedStep {
  name: string;
  phase: ShutdownPhase;
  outcome: 'ok' | 'failed' | 'timed-out';
  durationMs: number;
}

/** Something that can list the resources it still holds open, for the escalation report. */
export type OpenResourceReporter = () => unknown;

export interface ShutdownCoordinatorOptions {
  log: Logger;
  escalationMs: number;
  deadlineMs: number;
  stepTimeoutMs: number;
  /** Called at escalation, before the listing: turn on debug logging in every thread. */
  onEscalate?: () => void;
  /**
   * Called once, when the shutdown starts, before any step: the service arms the deadline's
   * sentinel there (lifecycle/sentinel.ts), for a main thread too stuck to run the deadline's
   * timer.
   */
  onBegin?: () => void;
  /** Ends the process at the hard deadline; `process.exit` by default (tests replace it). */
  exit?: (code: number) => void;
  /**
   * Called when a step rejects or throws (not when it times out), after the warning: the
   * service routes it through the exception scope, which decides if it is a failure.
   */
  onStepFailed?: (error: unknown, step: ShutdownStep) => void;
}

export class ShutdownCoordinator {
  readonly #log: Logger;
  readonly #options: ShutdownCoordinatorOptions;
  readonly #controller = new AbortController();
  readonly #failure = new AbortController();
  readonly #steps: ShutdownStep[] = [];
  readonly #reporters = new Map<string, OpenResourceReporter>();
  readonly #stepListeners: Array<(step: FinishedStep) => void> = [];
  #state: CoordinatorState = 'running';
  #cause: unknown = undefined;
  #reason = '';
  #currentStep: string | undefined;
  /** Index in shutdownPhases of the phase whose steps run now; -1 before the first. */
  #phaseIndex = -1;
  /** Steps registered after their phase had run, running now (see addStep). */
  readonly #late = new Set<Promise<void>>();
  /** Start-up, when a shutdown may begin before it settled (see holdStepsFor). */
  #startup: { settled: Promise<unknown>; isSettled: boolean } | undefined;
  #startedAt = 0;
  /** The escalation and deadline timers, once armed: `[Symbol.dispose]()` disarms them. */
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #done: Promise<ExitCodeValue>;
  #resolveDone!: (code: ExitCodeValue) => void;

  constructor(options: ShutdownCoordinatorOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'shutdown' });
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Aborts when shutdown starts. Pass it to every loop, sleep and wait. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get state(): CoordinatorState {
    return this.#state;
  }

  get isShuttingDown(): boolean {
    return this.#state !== 'running';
  }

  /** Milliseconds since the shutdown started; undefined while running. */
  get elapsedMs(): number | undefined {
    return this.#state === 'running' ? undefined : Math.round(performance.now() - this.#startedAt);
  }

  /** Why the shutdown started (a signal's name, 'failure', the code's reason); '' before. */
  get reason(): string {
    return this.#reason;
  }

  /** The first failure recorded by `die()`, or undefined after a requested stop. */
  get cause(): unknown {
    return this.#cause;
  }

  /**
   * Aborts, with the cause, when `die()` records the first failure, before or during the
   * shutdown: for a step that waits only on a clean stop (the readiness delay) to end its wait.
   */
  get failed(): AbortSignal {
    return this.#failure.signal;
  }

  /** Resolves with the exit code once every step has run. Never rejects. */
  get done(): Promise<ExitCodeValue> {
    return this.#done;
  }

  /**
   * Registers a step; returns a function that unregisters it. A step registered once its
   * phase has started (start-up that went on while the shutdown ran) is run at once, with a
   * warning, and `done` waits for it too: what started is stopped, however late.
   */
  addStep(step: ShutdownStep): () => void {
    const phaseIndex = shutdownPhases.indexOf(step.phase);
    if (
      this.#state === 'stopped' ||
      (this.#state === 'stopping' && phaseIndex <= this.#phaseIndex)
    ) {
      this.#log.warn(
        { step: step.name, phase: step.phase, state: this.#state },
        'shutdown step registered after its phase began; running it now',
      );
      const late = this.#runStep(step);
      this.#late.add(late);
      void late.finally(() => this.#late.delete(late));
      return () => undefined;
    }
    this.#steps.push(step);
    return () => {
      const index = this.#steps.indexOf(step);
      if (index >= 0) this.#steps.splice(index, 1);
    };
  }

  /**
   * Tells the coordinator that start-up is running until `settled` settles: a shutdown that
   * begins before then waits for it (up to the step timeout) before running any step, so
   * that every step start-up registers is in place. Start-up must watch `signal` to settle
   * soon once it aborts.
   */
  holdStepsFor(settled: Promise<unknown>): void {
    const startup = { settled, isSettled: false };
    this.#startup = startup;
    const mark = (): void => {
      startup.isSettled = true;
    };
    settled.then(mark, mark);
  }

  /** Calls `listener` after each step (metrics); a listener that throws is ignored. */
  onStepFinished(listener: (step: FinishedStep) => void): void {
    this.#stepListeners.push(listener);
  }

  /** Registers a lister of open resources for the escalation report (one per name). */
  addOpenResourceReporter(name: string, reporter: OpenResourceReporter): void {
    this.#reporters.set(name, reporter);
  }

  /** A requested stop (TERM, INT): exit code 0 unless a failure is recorded too. Idempotent. */
  requestStop(reason: string): void {
    this.#begin(reason);
  }

  /**
   * Records `cause` (the first one wins) and starts the shutdown. Idempotent; a failure after
   * a requested stop still makes the exit code non-zero, since the stop did not go cleanly.
   */
  die(cause: unknown): void {
    if (this.#cause === undefined) {
      this.#cause = cause ?? new Error('die() called without a cause');
      if (this.isShuttingDown) {
        this.#log.warn({ err: cause, kind: classify(cause) }, 'failure recorded during shutdown');
      }
      this.#failure.abort(this.#cause);
    }
    this.#begin('failure');
  }

  /** What is still open, by reporter name, plus Node's own active resources. */
  describeOpen(): Record<string, unknown> {
    const open: Record<string, unknown> = {};
    for (const [name, reporter] of this.#reporters) {
      try {
        open[name] = reporter();
      } catch (error) {
        open[name] = { error: serializeError(error).message };
      }
    }
    open['currentStep'] = this.#currentStep;
    open['nodeActiveResources'] = process.getActiveResourcesInfo();
    return open;
  }

  /**
   * Disarms the escalation and deadline timers, for a host that ends the process by other
   * means, and for tests (the deadline otherwise stays armed after `done`). Idempotent.
   */
  [Symbol.dispose](): void {
    for (const timer of this.#timers) clearTimeout(timer);
  }

  #begin(reason: string): void {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    this.#reason = reason;
    this.#startedAt = performance.now();
    const cause = this.#cause;
    if (cause === undefined) {
      this.#log.info({ reason, state: this.#state }, 'shutdown started');
    } else {
      this.#log.warn(
        { reason, state: this.#state, kind: classify(cause), err: cause },
        'shutdown started',
      );
    }
    try {
      this.#options.onBegin?.();
    } catch (error) {
      this.#log.warn({ err: error }, 'shutdown start hook failed');
    }
    this.#controller.abort(cause ?? stopReason(`stop requested: ${reason}`));
    this.#run().catch((error: unknown) => {
      // Never expected (each step's failure is caught): the exit code still gets decided.
      this.#log.error({ err: error }, 'shutdown steps failed; exiting');
      this.die(error);
      this.#state = 'stopped';
      this.#resolveDone(exitCodeFor(this.#cause));
    });
  }

  async #run(): Promise<void> {
    const escalation = setTimeout(() => this.#escalate(), this.#options.escalationMs);
    // Ref'd while the steps run: something must keep the process alive until the steps
    // decide, even when every other handle is closed and a step awaits a promise that never
    // settles (its timeout, an unref'd AbortSignal.timeout, then fires).
    const deadline = setTimeout(() => this.#deadline(), this.#options.deadlineMs);
    escalation.unref();
    this.#timers.push(escalation, deadline);
    await this.#awaitStartup();
    for (const [index, phase] of shutdownPhases.entries()) {
      this.#phaseIndex = index;
      const steps = this.#steps.filter((s) => s.phase === phase).reverse();
      for (const step of steps) await this.#runStep(step);
    }
    while (this.#late.size > 0) await Promise.all(this.#late);
    clearTimeout(escalation);
    // The deadline stays armed after the steps: if a leaked handle keeps the process alive,
    // it still ends it. Unref'd now, it never keeps a clean process alive by itself.
    deadline.unref();
    this.#currentStep = undefined;
    this.#state = 'stopped';
    const code = exitCodeFor(this.#cause);
    this.#log.info(
      {
        state: this.#state,
        reason: this.#reason,
        exitCode: code,
        durationMs: Math.round(performance.now() - this.#startedAt),
      },
      'shutdown complete',
    );
    this.#resolveDone(code);
  }

  /** Waits (bounded by the step timeout) for a start-up still running when shutdown began. */
  async #awaitStartup(): Promise<void> {
    const startup = this.#startup;
    if (startup === undefined || startup.isSettled) return;
    const timeoutMs = this.#fitted('start-up', 'stop-intake', this.#options.stepTimeoutMs);
    this.#currentStep = 'start-up';
    this.#log.info({ timeoutMs }, 'waiting for start-up to settle before the shutdown steps');
    const settled = startup.settled.then(
      () => true,
      () => true,
    );
    if ((await withTimeout(settled, timeoutMs)) === timedOut) {
      this.#log.warn({ timeoutMs }, 'start-up did not settle in time; running the steps anyway');
      if (timeoutMs < this.#options.stepTimeoutMs) this.#cutShort('start-up');
    }
  }

  /**
   * What a step of `phase` may take now: until the deadline, less the margin and, before the
   * flush phase, less what the flush phase's steps may take.
   */
  #budgetMs(phase: ShutdownPhase): number {
    const left = this.#startedAt + this.#options.deadlineMs - performance.now() - deadlineMarginMs;
    if (phase === 'flush') return left;
    const flush = this.#steps
      .filter((s) => s.phase === 'flush')
      .reduce((sum, s) => sum + this.#timeoutOf(s), 0);
    return left - flush;
  }

  #timeoutOf(step: ShutdownStep): number {
    return timerMs(step.timeoutMs ?? this.#options.stepTimeoutMs, this.#options.stepTimeoutMs);
  }

  /** `wantedMs`, cut to `phase`'s budget (at least 1 ms: the step still starts), and says so. */
  #fitted(what: string, phase: ShutdownPhase, wantedMs: number): number {
    const budgetMs = Math.floor(this.#budgetMs(phase));
    if (budgetMs >= wantedMs) return wantedMs;
    const timeoutMs = Math.max(1, budgetMs);
    this.#log.info(
      { step: what, wantedMs, timeoutMs, deadlineMs: this.#options.deadlineMs },
      'shutdown step cut to what remains before the deadline',
    );
    return timeoutMs;
  }

  /** A step cut to fit the deadline ran out of time: the shutdown did not finish within it. */
  #cutShort(step: string): void {
    this.#log.error(
      { step, deadlineMs: this.#options.deadlineMs },
      'shutdown step cut short at the deadline; the rest run, and the exit says the deadline',
    );
    this.#cause ??= new ShutdownDeadlineError(this.#options.deadlineMs);
  }

  async #runStep(step: ShutdownStep): Promise<void> {
    const wantedMs = this.#timeoutOf(step);
    const timeoutMs = this.#fitted(step.name, step.phase, wantedMs);
    const started = performance.now();
    const timeout = AbortSignal.timeout(timeoutMs);
    this.#currentStep = step.name;
    this.#log.info({ step: step.name, phase: step.phase }, 'shutdown step started');
    let outcome: 'ok' | 'failed' | 'timed-out' = 'ok';
    let failure: unknown;
    try {
      await raceAbort(
        Promise.resolve().then(() => step.run(timeout)),
        timeout,
      );
    } catch (error) {
      outcome = timeout.aborted ? 'timed-out' : 'failed';
      failure = error;
    }
    const fields = {
      step: step.name,
      phase: step.phase,
      outcome,
      durationMs: Math.round(performance.now() - started),
    };
    if (outcome === 'ok') this.#log.info(fields, 'shutdown step finished');
    else this.#log.warn({ ...fields, err: failure }, 'shutdown step finished');
    if (outcome === 'timed-out' && timeoutMs < wantedMs) this.#cutShort(step.name);
    if (outcome === 'failed') this.#options.onStepFailed?.(failure, step);
    for (const listener of this.#stepListeners) {
      try {
        listener({ name: step.name, phase: step.phase, outcome, durationMs: fields.durationMs });
      } catch {
        // A metrics listener must not disturb the shutdown.
      }
    }
  }

  #escalate(): void {
    this.#options.onEscalate?.();
    this.#log.warn(
      { escalationMs: this.#options.escalationMs, open: this.describeOpen() },
      'shutdown is taking too long; debug logging is on; still open',
    );
  }

  #deadline(): void {
    const error = new ShutdownDeadlineError(this.#options.deadlineMs);
    this.#log.fatal(
      { err: error, open: this.describeOpen(), exitCode: ExitCode.SHUTDOWN_DEADLINE },
      'shutdown deadline exceeded; exiting now',
    );
    (this.#options.exit ?? ((code: number) => process.exit(code)))(ExitCode.SHUTDOWN_DEADLINE);
  }
}
