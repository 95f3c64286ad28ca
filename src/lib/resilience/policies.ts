import {
  bulkhead,
  circuitBreaker,
  ConsecutiveBreaker,
  CircuitState,
  decorrelatedJitterGenerator,
  ExponentialBackoff,
  fullJitterGenerator,
  halfJitterGenerator,
  handleWhen,
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isHydratingCircuitError,
  isTaskCancelledError,
  noJitterGenerator,
  noop,
  retry,
  timeout,
  TimeoutStrategy,
  type CircuitBreakerPolicy,
  type IPolicy,
} from 'cockatiel';
import { classify } from '../primitives/classify.js';
import { ErrorCodes, WorkerBaseError, type WorkerBaseErrorOptions } from '../primitives/errors.js';
import type { Logger } from '../primitives/log.js';
import { raceAbort } from '../primitives/waits.js';
import type { ProcessControl } from '../primitives/process-control.js';
import type { Metrics } from '../telemetry/metrics.js';
import { resolvePolicy, type PoliciesConfig, type PolicyConfig } from './policy-config.js';
import { PolicyMonitor, type BreakerState } from './policy-monitor.js';

/**
 * The only door to cockatiel. Builds one policy per named dependency from the `policies`
 * config: retry (exponential backoff with jitter, only what `classify()` calls transient),
 * a bulkhead, a consecutive-failure circuit breaker and an aggressive timeout, composed
 * outermost first in that order. Callers see `ResiliencePolicy`, our own small type.
 *
 * Every wait is cut short by the shutdown signal. cockatiel 4.0's retry delay is a plain
 * `setTimeout` that ignores the signal (RetryPolicy.execute), so the delay timer is unref'd
 * and `execute()` races the policy against the signal: it rejects at once on abort, and the
 * abandoned loop ends at its next attempt, which sees the aborted signal and gives up.
 */

export interface ResiliencePolicy {
  readonly name: string;
  readonly config: Readonly<PolicyConfig>;
  /** The breaker's state ('closed' when the breaker is off). */
  readonly state: BreakerState;
  /**
   * Runs `fn` under the policy. `fn` gets a signal that aborts on the attempt's timeout, on
   * shutdown and on the caller's `signal`; pass it to the I/O. Resolves with `fn`'s result;
   * rejects with its last error when retries run out or the error is not transient, with a
   * PolicyRejectedError (its `reason` says why) while the breaker is open, on a timeout, when
   * the bulkhead's queue is full, and with the abort reason on shutdown.
   */
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

export interface PoliciesOptions {
  config: PoliciesConfig;
  log: Logger;
  metrics: Metrics;
  /** The shutdown signal cancels every wait; `die()` ends the process for a critical breaker. */
  control: Pick<ProcessControl, 'signal' | 'die'>;
}

/** Why a policy refused a call. */
export type RejectionReason =
  /** The attempt ran past the policy's timeout (cockatiel's TaskCancelledError). */
  | 'timeout'
  /** The breaker is open or isolated (BrokenCircuitError). */
  | 'circuit-open'
  /** The breaker is still loading its state (HydratingCircuitError). */
  | 'circuit-hydrating'
  /** The bulkhead and its queue are full (BulkheadRejectedError). */
  | 'bulkhead-full';

/**
 * A policy refused the call or gave up on an attempt: worth another try later, so
 * `classify()` says 'transient'. cockatiel's own error is the `cause`.
 */
export class PolicyRejectedError extends WorkerBaseError {
  readonly policy: string;
  readonly reason: RejectionReason;
  constructor(policy: string, reason: RejectionReason, options: WorkerBaseErrorOptions = {}) {
    super(ErrorCodes.POLICY_REJECTED, `policy ${policy}: ${reason}`, {
      retryable: true,
      ...options,
    });
    this.policy = policy;
    this.reason = reason;
  }
}

/** The reason behind one of cockatiel's errors (read with its own guards), if it is one. */
function rejectionReason(error: unknown): RejectionReason | undefined {
  if (isTaskCancelledError(error)) return 'timeout';
  if (isBrokenCircuitError(error)) return 'circuit-open';
  if (isHydratingCircuitError(error)) return 'circuit-hydrating';
  if (isBulkheadRejectedError(error)) return 'bulkhead-full';
  return undefined;
}

/**
 * Our error for what a cockatiel policy threw; anything else is returned as it is (an error of
 * another realm, a plain object with a `code`), so `classify()` reads it as thrown.
 */
function fromCockatiel(policy: string, error: unknown): unknown {
  const reason = rejectionReason(error);
  if (reason !== undefined) return new PolicyRejectedError(policy, reason, { cause: error });
  return error;
}

/**
 * What an attempt failed with once its caller had given up on it (the caller's signal aborted):
 * no failure of the dependency, so neither retried nor counted by the breaker.
 */
class CallerCancelled extends Error {
  readonly error: unknown;
  constructor(error: unknown) {
    super('cancelled by the caller');
    this.error = error;
  }
}

/**
 * What a half-open breaker's trial call failed with once it was cancelled (its caller gave up,
 * or the stop cut it short), on its way from the trial to the breaker only. A cancelled trial
 * proves nothing of the dependency, but cockatiel 4.0 takes an error its filter does not handle
 * for the trial's success and closes the breaker (CircuitBreakerPolicy.executeHalfOpen), and
 * has no third outcome that would leave the breaker half-open for the next call: the filter
 * handles this one, so the breaker opens again and the next trial comes after
 * `halfOpenAfterMs`, as after a failed one.
 */
class CancelledTrial extends Error {
  readonly error: unknown;
  constructor(error: unknown) {
    super('half-open trial cancelled');
    this.error = error;
  }
}

/** Exponential backoff from `baseDelayMs`, doubling up to `maxDelayMs`, with the jitter named. */
function backoffOf(config: PolicyConfig): ExponentialBackoff<unknown> {
  const options = { initialDelay: config.baseDelayMs, maxDelay: config.maxDelayMs };
  switch (config.jitter) {
    case 'none':
      return new ExponentialBackoff({ ...options, generator: noJitterGenerator });
    case 'full':
      return new ExponentialBackoff({ ...options, generator: fullJitterGenerator });
    case 'half':
      return new ExponentialBackoff({ ...options, generator: halfJitterGenerator });
    case 'decorrelated':
      return new ExponentialBackoff({ ...options, generator: decorrelatedJitterGenerator });
  }
}

const breakerStates: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

/** The registry of named policies: each is built on first use and shared afterwards. */
export class Policies {
  readonly #options: PoliciesOptions;
  readonly #policies = new Map<string, ResiliencePolicy>();

  constructor(options: PoliciesOptions) {
    this.#options = options;
  }

  /** The policy of dependency `name` (its overrides on the defaults). Same object every time. */
  get(name: string): ResiliencePolicy {
    let policy = this.#policies.get(name);
    if (policy === undefined) {
      policy = this.#build(name, resolvePolicy(this.#options.config, name));
      this.#policies.set(name, policy);
    }
    return policy;
  }

  /** Breaker state of each policy built so far, for health checks and the escalation report. */
  describe(): Record<string, BreakerState> {
    return Object.fromEntries([...this.#policies].map(([name, p]) => [name, p.state]));
  }

  /**
   * Records each breaker's state as `policy_breaker_state{policy, state}`: 1 for the state it
   * is in, 0 for the others (for a scrape).
   */
  recordStates(metrics: Metrics): void {
    for (const [policy, current] of Object.entries(this.describe())) {
      for (const state of ['closed', 'open', 'half-open'] as const) {
        metrics.gauge('policy_breaker_state', state === current ? 1 : 0, { policy, state });
      }
    }
  }

  #build(name: string, config: PolicyConfig): ResiliencePolicy {
    const { log, metrics, control } = this.#options;
    const monitor = new PolicyMonitor({ name, config, log, metrics, control });
    // Inside the composition the inner policies' errors are still cockatiel's: read as ours.
    // A call given up on by its caller, or cut short by the shutdown, says nothing of the
    // dependency: three callers that cancelled opened the breaker of a healthy one (and a
    // critical breaker then ended the service with 69).
    const kindOf = (error: unknown) =>
      error instanceof CallerCancelled || control.signal.aborted
        ? 'cancelled'
        : classify(fromCockatiel(name, error));
    const isTransient = (error: unknown): boolean => kindOf(error) === 'transient';
    const isDependencyFault = (error: unknown): boolean => {
      const kind = kindOf(error);
      return kind === 'transient' || kind === 'dependency';
    };

    const retries = retry(handleWhen(isTransient), {
      maxAttempts: config.maxAttempts - 1,
      backoff: backoffOf(config),
    }).dangerouslyUnref();
    retries.onRetry((event) => monitor.retrying(event.attempt, event.delay, errorOf(event)));
    retries.onGiveUp((event) => monitor.gaveUp(errorOf(event)));
    retries.onSuccess(() => monitor.succeeded());

    let limit: IPolicy = noop;
    if (config.concurrency > 0) {
      const slots = bulkhead(config.concurrency, config.queue);
      slots.onReject(() => monitor.rejected());
      limit = slots;
    }

    let breaker: CircuitBreakerPolicy | undefined;
    if (config.breakerThreshold > 0) {
      const counted = (error: unknown) =>
        error instanceof CancelledTrial || isDependencyFault(error);
      breaker = circuitBreaker(handleWhen(counted), {
        halfOpenAfter: config.halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(config.breakerThreshold),
      });
      breaker.onStateChange((state) => monitor.breakerChanged(breakerStates[state]));
    }

    const attemptTimeout = timeout(config.timeoutMs, TimeoutStrategy.Aggressive).dangerouslyUnref();
    attemptTimeout.onTimeout(() => {
      if (!control.signal.aborted) monitor.timedOut(); // the shutdown's abort is no timeout
    });

    // The breaker around the timeout. A call that reaches the breaker's inside while it is
    // half-open is its trial (cockatiel lets one through and holds the others until it is
    // decided): cancelled, it is a CancelledTrial to the breaker, and as it was to the rest.
    const guarded = <T>(
      fn: (context: { signal: AbortSignal }) => Promise<T>,
      signal: AbortSignal,
    ): Promise<T> => {
      if (breaker === undefined) return attemptTimeout.execute(fn, signal);
      const circuit = breaker;
      return circuit
        .execute(({ signal: inner }) => {
          const isTrial = circuit.state === CircuitState.HalfOpen;
          return attemptTimeout.execute(fn, inner).catch((error: unknown) => {
            if (!isTrial || kindOf(error) !== 'cancelled') throw error;
            monitor.trialCancelled();
            throw new CancelledTrial(error);
          });
        }, signal)
        .catch((error: unknown) => {
          throw error instanceof CancelledTrial ? error.error : error;
        });
    };
    // One attempt in a bulkhead slot held until `fn` itself settles: the timeout answers the
    // attempt at its time, but a call that ignores its signal runs on, and freeing its slot
    // then let retries overlap it (a reviewer saw 6 attempts at once under a limit of 1).
    const attempt = <T>(
      fn: (context: { signal: AbortSignal }) => Promise<T>,
      signal: AbortSignal,
    ): Promise<T> => {
      const outcome = Promise.withResolvers<T>();
      const slot = limit.execute(async ({ signal: slotSignal }) => {
        let running: Promise<unknown> = Promise.resolve();
        const answered = guarded((context) => {
          const call = fn(context);
          running = call.catch(() => undefined);
          return call;
        }, slotSignal);
        answered.then(outcome.resolve, outcome.reject);
        await answered.catch(() => undefined);
        await running;
      }, signal);
      slot.catch(outcome.reject); // refused a slot (the bulkhead and its queue are full)
      return outcome.promise;
    };
    const policy = {
      execute: <T>(
        fn: (context: { signal: AbortSignal }) => Promise<T>,
        signal: AbortSignal,
      ): Promise<T> =>
        retries.execute(({ signal: retrySignal }) => attempt(fn, retrySignal), signal),
    };
    return {
      name,
      config,
      get state() {
        return breaker === undefined ? 'closed' : breakerStates[breaker.state];
      },
      execute: (fn, signal) => {
        const combined =
          signal === undefined ? control.signal : AbortSignal.any([control.signal, signal]);
        // The caller's signal reaches `fn`, not cockatiel: its timeout policy would take the
        // caller's abort for a timeout of its own. raceAbort answers the caller at once.
        const run = policy
          .execute(async ({ signal: attempt }) => {
            attempt.throwIfAborted();
            if (signal === undefined) return fn(attempt);
            if (signal.aborted) throw new CallerCancelled(signal.reason);
            try {
              return await fn(AbortSignal.any([attempt, signal]));
            } catch (error) {
              throw signal.aborted ? new CallerCancelled(error) : error;
            }
          }, control.signal)
          .catch((error: unknown) => {
            throw error instanceof CallerCancelled ? error.error : fromCockatiel(name, error);
          });
        return raceAbort(run, combined);
      },
    };
  }
}

function errorOf(event: { error: unknown } | { value: unknown }): unknown {
  return 'error' in event ? event.error : undefined;
}
