/**
 * Liveness and readiness as data. Components register named checks; the health endpoint (and
 * tests) evaluate them. Liveness: the process works (threads alive, loops responsive).
 * Readiness: it can take work (dependencies connected, consumers active, not shutting down).
 */

import { serializeError } from './primitives/error-serialization.js';

export interface CheckResult {
  ok: boolean;
  /** Why, in a few words; shown in the endpoint's JSON. */
  detail?: unknown;
}

export type HealthCheck = () => CheckResult;

export interface HealthReport {
  ok: boolean;
  checks: Record<string, CheckResult>;
}

export class HealthChecks {
  readonly #liveness = new Map<string, HealthCheck>();
  readonly #readiness = new Map<string, HealthCheck>();

  /** Adds (or replaces) a liveness check. */
  addLiveness(name: string, check: HealthCheck): void {
    this.#liveness.set(name, check);
  }

  /** Adds (or replaces) a readiness check. */
  addReadiness(name: string, check: HealthCheck): void {
    this.#readiness.set(name, check);
  }

  liveness(): HealthReport {
    return evaluate(this.#liveness);
  }

  readiness(): HealthReport {
    return evaluate(this.#readiness);
  }
}

function evaluate(checks: ReadonlyMap<string, HealthCheck>): HealthReport {
  const results: Record<string, CheckResult> = {};
  let ok = true;
  for (const [name, check] of checks) {
    const result = run(check);
    results[name] = result;
    ok &&= result.ok;
  }
  return { ok, checks: results };
}

/**
 * One check's result; a check that throws, or answers something else than `{ ok: boolean }`
 * (a promise: checks are synchronous), is not ok, and says why. A thrown value nothing can read
 * (a null-prototype object, a `message` getter that throws) ended the service with 70 at the
 * first probe.
 */
function run(check: HealthCheck): CheckResult {
  try {
    const result: unknown = check();
    const ok = (result as { ok?: unknown } | null | undefined)?.ok;
    if (typeof ok === 'boolean') return result as CheckResult;
    const promise = typeof (result as { then?: unknown } | null | undefined)?.then === 'function';
    return {
      ok: false,
      detail: promise
        ? 'the check returned a promise: checks are synchronous'
        : 'the check returned no { ok: boolean }',
    };
  } catch (error) {
    return { ok: false, detail: serializeError(error).message };
  }
}
