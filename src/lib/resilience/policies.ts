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
  noJitterGenerator,
  noop,
  retry,
  timeout,
  TimeoutStrategy,
  wrap,
  type CircuitBreakerPolicy,
  type IPolicy,
} from 'cockatiel';
import { classify } from '../primitives/classify.js';
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
   * rejects with its last error when retries run out or the error is not transient, with
   * BrokenCircuitError while the breaker is open, TaskCancelledError on a timeout,
   * BulkheadRejectedError when the queue is full, and the abort reason on shutdown.
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
    const isTransient = (error: unknown): boolean => classify(error) === 'transient';
    const isDependencyFault = (error: unknown): boolean => {
      const kind = classify(error);
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
      breaker = circuitBreaker(handleWhen(isDependencyFault), {
        halfOpenAfter: config.halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(config.breakerThreshold),
      });
      breaker.onStateChange((state) => monitor.breakerChanged(breakerStates[state]));
    }

    const attemptTimeout = timeout(config.timeoutMs, TimeoutStrategy.Aggressive).dangerouslyUnref();
    attemptTimeout.onTimeout(() => monitor.timedOut());

    const policy = wrap(retries, limit, breaker ?? noop, attemptTimeout);
    return {
      name,
      config,
      get state() {
        return breaker === undefined ? 'closed' : breakerStates[breaker.state];
      },
      execute: (fn, signal) => {
        const combined =
          signal === undefined ? control.signal : AbortSignal.any([control.signal, signal]);
        return raceAbort(
          policy.execute(({ signal: attempt }) => {
            attempt.throwIfAborted();
            return fn(attempt);
          }, combined),
          combined,
        );
      },
    };
  }
}

function errorOf(event: { error: unknown } | { value: unknown }): unknown {
  return 'error' in event ? event.error : undefined;
}
