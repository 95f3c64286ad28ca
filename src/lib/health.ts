/**
 * Liveness and readiness as data. Components register named checks; the health endpoint (and
 * tests) evaluate them. Liveness: the process works (threads alive, loops responsive).
 * Readiness: it can take work (dependencies connected, consumers active, not shutting down).
 */

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
    let result: CheckResult;
    try {
      result = check();
    } catch (error) {
      result = { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
    results[name] = result;
    ok &&= result.ok;
  }
  return { ok, checks: results };
}
