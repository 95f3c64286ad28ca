import { DependencyError } from '../primitives/errors.js';
import type { Logger } from '../primitives/log.js';
import type { ProcessControl } from '../primitives/process-control.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { PolicyConfig } from './policy-config.js';

/**
 * What one policy tells its operators: every retry, give-up, timeout, rejection and breaker
 * change is counted in metrics, but logged only at a transition (the first retry after
 * success, the first give-up of a failing spell, the recovery, each breaker state change), so
 * an outage under load gives a handful of lines, not one per call. It also watches the
 * breaker: open for longer than `maxOpenMs` on a critical dependency is a DependencyError
 * (`die()`, exit 69); on a non-critical one the service carries on degraded, said once.
 */

/** A breaker's state, as our logs and health checks name it. */
export type BreakerState =
  /** Calls pass; failures are counted. */
  | 'closed'
  /** Calls fail fast (PolicyRejectedError, 'circuit-open') until `halfOpenAfterMs` has passed. */
  | 'open'
  /** One trial call passes; success closes the breaker, failure or cancellation opens it again. */
  | 'half-open';

export interface PolicyMonitorOptions {
  name: string;
  config: PolicyConfig;
  log: Logger;
  metrics: Metrics;
  control: Pick<ProcessControl, 'signal' | 'die'>;
}

/** Metric names, tagged with `policy`. */
export const PolicyMetrics = {
  RETRY: 'policy_retry_total',
  RETRY_DELAY: 'policy_retry_delay_seconds',
  GIVE_UP: 'policy_give_up_total',
  TIMEOUT: 'policy_timeout_total',
  REJECTED: 'policy_rejected_total',
  BREAKER: 'policy_breaker_transitions_total',
  BREAKER_OPEN: 'policy_breaker_open',
} as const;

export class PolicyMonitor {
  readonly #options: PolicyMonitorOptions;
  readonly #log: Logger;
  readonly #tags: Readonly<Record<string, string>>;
  /** True from the first failure of a spell until the next success. */
  #failing = false;
  #gaveUpThisSpell = false;
  #openSince: number | undefined;
  #openTimer: NodeJS.Timeout | undefined;
  /** The trial under way was cancelled: the breaker's next opening is that, not a failure. */
  #trialCancelled = false;
  /** The breaker's last trial was cancelled, not failed: it said nothing of the dependency. */
  #lastTrialCancelled = false;

  constructor(options: PolicyMonitorOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'policy', policy: options.name });
    this.#tags = { policy: options.name };
  }

  retrying(attempt: number, delayMs: number, error: unknown): void {
    const { metrics } = this.#options;
    metrics.count(PolicyMetrics.RETRY, 1, this.#tags);
    metrics.timing(PolicyMetrics.RETRY_DELAY, delayMs, this.#tags);
    const fields = { attempt, delayMs, err: error };
    if (this.#failing || this.#quiet) this.#log.debug(fields, 'retrying');
    else this.#log.warn(fields, 'dependency call failed; retrying');
    this.#failing = true;
  }

  gaveUp(error: unknown): void {
    this.#options.metrics.count(PolicyMetrics.GIVE_UP, 1, this.#tags);
    if (this.#gaveUpThisSpell || this.#quiet) this.#log.debug({ err: error }, 'gave up');
    else this.#log.warn({ err: error }, 'dependency call gave up');
    this.#failing = true;
    this.#gaveUpThisSpell = true;
  }

  succeeded(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#gaveUpThisSpell = false;
    this.#log.info('dependency calls succeed again');
  }

  timedOut(): void {
    this.#options.metrics.count(PolicyMetrics.TIMEOUT, 1, this.#tags);
    this.#log.debug({ timeoutMs: this.#options.config.timeoutMs }, 'attempt timed out');
  }

  rejected(): void {
    this.#options.metrics.count(PolicyMetrics.REJECTED, 1, this.#tags);
    this.#log.debug('call rejected: concurrency limit and queue full');
  }

  /** The half-open breaker's trial call was cancelled (its caller gave up, or the stop). */
  trialCancelled(): void {
    this.#trialCancelled = true;
  }

  breakerChanged(state: BreakerState): void {
    const { metrics, config } = this.#options;
    metrics.count(PolicyMetrics.BREAKER, 1, { ...this.#tags, state });
    metrics.gauge(PolicyMetrics.BREAKER_OPEN, state === 'closed' ? 0 : 1, this.#tags);
    const fields = { state, critical: config.critical };
    if (state === 'open') {
      this.#lastTrialCancelled = this.#trialCancelled;
      this.#trialCancelled = false;
      // In a stop nothing counts as a failure but a cancelled half-open trial: no news.
      const level = this.#quiet ? 'debug' : 'warn';
      this.#log[level]({ ...fields, halfOpenAfterMs: config.halfOpenAfterMs }, 'breaker opened');
      this.#watchOpen();
    } else if (state === 'half-open') {
      this.#log.info(fields, 'breaker half-open: trial call');
    } else {
      const openMs = this.#openSince === undefined ? 0 : Date.now() - this.#openSince;
      this.#log.info({ ...fields, openMs }, 'breaker closed');
      clearTimeout(this.#openTimer);
      this.#openTimer = undefined;
      this.#openSince = undefined;
      this.#lastTrialCancelled = false;
    }
  }

  get #quiet(): boolean {
    return this.#options.control.signal.aborted;
  }

  /**
   * Starts the open-too-long clock at the first opening; half-open trials do not reset it. When
   * it runs out just after a cancelled trial (which reopened the breaker for `halfOpenAfterMs`
   * and said nothing of the dependency), the breaker gets one more trial's time
   * (`halfOpenAfterMs + timeoutMs`) before the verdict, again after each cancelled trial: the
   * check of maxOpenMs against a trial's time held only for a trial that was decided, and one
   * cancelled trial ended a healthy service (69) 1 ms before the next trial would have closed it.
   */
  #watchOpen(): void {
    if (this.#openSince !== undefined) return;
    this.#openSince = Date.now();
    this.#armOpenTimer(this.#options.config.maxOpenMs);
  }

  #armOpenTimer(ms: number): void {
    const { config, control, name } = this.#options;
    this.#openTimer = setTimeout(() => {
      this.#openTimer = undefined;
      if (control.signal.aborted) return;
      const openMs = Date.now() - (this.#openSince ?? Date.now());
      if (this.#lastTrialCancelled) {
        this.#lastTrialCancelled = false;
        const waitMs = config.halfOpenAfterMs + config.timeoutMs;
        this.#log.warn(
          { maxOpenMs: config.maxOpenMs, openMs, waitMs },
          'breaker open past maxOpenMs, its last trial cancelled; waiting for one more trial',
        );
        this.#armOpenTimer(waitMs);
        return;
      }
      const message = `breaker open for more than ${config.maxOpenMs} ms`;
      if (config.critical) control.die(new DependencyError(name, message));
      else this.#log.warn({ maxOpenMs: config.maxOpenMs }, `${message}; running degraded`);
    }, ms);
    this.#openTimer.unref();
  }
}
