import { DependencyError } from '../primitives/errors.js';
import type { CheckResult } from '../health.js';
import type { Logger } from '../primitives/log.js';

/**
 * A connection the broker has blocked (`connection.blocked`: a resource alarm, memory or disk):
 * it stops reading what we send, so a publish waits for a confirm that does not come. This
 * tracks the state for readiness (not ready while blocked, with the broker's reason), logs one
 * warning per block, and once the connection has been blocked for `timeoutMs` fails the
 * publishes waiting on it, and every new one until the unblock, with a DependencyError:
 * instead of waiting forever, the service dies with the dependency-failure code.
 */
export class BlockedConnection {
  readonly #timeoutMs: number;
  readonly #log: Logger;
  readonly #timeoutListeners: Array<(error: DependencyError) => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #blocked: { reason: string; since: Date } | undefined;
  #timedOut: DependencyError | undefined;

  constructor(options: { timeoutMs: number; log: Logger }) {
    this.#timeoutMs = options.timeoutMs;
    this.#log = options.log;
  }

  get isBlocked(): boolean {
    return this.#blocked !== undefined;
  }

  /** The error a publish fails with while the block has lasted longer than the timeout. */
  get timedOut(): DependencyError | undefined {
    return this.#timedOut;
  }

  /** Calls `listener` each time a block has lasted the timeout (to fail waiting publishes). */
  onTimeout(listener: (error: DependencyError) => void): void {
    this.#timeoutListeners.push(listener);
  }

  /** The broker blocked the connection. A second block without an unblock changes nothing. */
  block(reason: string): void {
    if (this.#blocked !== undefined) return;
    this.#blocked = { reason, since: new Date() };
    this.#log.warn(
      { reason, timeoutMs: this.#timeoutMs },
      'broker blocked the connection (resource alarm); publishes wait',
    );
    this.#timer = setTimeout(() => {
      const error = new DependencyError(
        'rabbitmq',
        `the broker has blocked the connection for ${this.#timeoutMs} ms (${reason}): publishes cannot go out`,
      );
      this.#timedOut = error;
      for (const listener of this.#timeoutListeners) listener(error);
    }, this.#timeoutMs);
    // A blocked connection alone must not keep the process alive.
    this.#timer.unref();
  }

  /** The broker unblocked it: publishes go out again. */
  unblock(): void {
    if (this.#blocked === undefined) return;
    const blockedMs = Date.now() - this.#blocked.since.getTime();
    this.#blocked = undefined;
    this.#timedOut = undefined;
    clearTimeout(this.#timer);
    this.#log.info({ blockedMs }, 'broker unblocked the connection');
  }

  /** Readiness: not ready while blocked, with the broker's reason and since when. */
  readiness(): CheckResult {
    const blocked = this.#blocked;
    return blocked === undefined
      ? { ok: true, detail: { blocked: false } }
      : {
          ok: false,
          detail: { blocked: true, reason: blocked.reason, since: blocked.since.toISOString() },
        };
  }
}
