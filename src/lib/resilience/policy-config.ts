import { z } from 'zod';
import type { SettingRef } from '../primitives/config.js';
import { flag, integer, millis, upperSnake } from '../primitives/config-fields.js';

/**
 * The `policies` configuration section: one resilience policy per outbound dependency. The
 * entry `default` is complete; every other entry (named after its dependency, camelCase)
 * overrides some of its fields. Each field can be set from the environment as
 * `POLICY_<NAME>_<FIELD>` in upper snake case, for the names the service declares with
 * `policyEnv()`: `POLICY_SAMPLE_HTTP_TIMEOUT_MS=2000` sets `policies.sampleHttp.timeoutMs`.
 */

export const jitterKinds = ['none', 'full', 'half', 'decorrelated'] as const;

const policyFields = {
  /** Attempts in all, the first included: 1 means no retry. */
  maxAttempts: integer(1, 100).describe('attempts in all, the first included: 1 to 100'),
  /** The first retry delay; each further one doubles, up to maxDelayMs. */
  baseDelayMs: millis(1),
  maxDelayMs: millis(1),
  /** How the delay is randomised: none, full [0, d), half [d/2, d), decorrelated (Polly). */
  jitter: z.enum(jitterKinds).describe(`one of ${jitterKinds.join(', ')}`),
  /** Every attempt is aborted after this long. */
  timeoutMs: millis(1),
  /** Consecutive failed attempts that open the breaker; 0 turns the breaker off. */
  breakerThreshold: integer(0, 10_000),
  /** How long an open breaker fails fast before it lets one trial call through. */
  halfOpenAfterMs: millis(1),
  /** Calls in progress at once; 0 means no limit. */
  concurrency: integer(0, 10_000),
  /** Calls that may wait for a slot when `concurrency` are in progress; more are rejected. */
  queue: integer(0, 1_000_000),
  /** Critical: an open breaker for longer than `maxOpenMs` ends the process (exit 69). */
  critical: flag(),
  /**
   * From the first opening until a trial call closes the breaker (trials that fail do not
   * restart it). For a critical breaker, more than `halfOpenAfterMs + timeoutMs`.
   */
  maxOpenMs: millis(1),
};

export const policySchema = z.object(policyFields).strict();
export const policyOverrideSchema = policySchema.partial().strict();

export type PolicyConfig = z.infer<typeof policySchema>;
export type PolicyOverride = z.infer<typeof policyOverrideSchema>;

/** Resolves the effective settings of `name`: its overrides on top of `default`. */
export function resolvePolicy(section: PoliciesConfig, name: string): PolicyConfig {
  const override = name === 'default' ? undefined : section[name];
  return { ...section.default, ...override };
}

/**
 * The fields of policy `name` a check read, for its config error: each shown with its value in
 * force and where it came from, `default`'s when the policy does not set it.
 */
function fieldsRead(name: string, ...keys: (keyof PolicyConfig)[]): { settings: SettingRef[] } {
  const inherits = (key: string) =>
    name === 'default' ? {} : { inherits: ['..', 'default', key] };
  return { settings: keys.map((key) => ({ key: [key], ...inherits(key) })) };
}

export const policiesSchema = z
  .object({ default: policySchema })
  .catchall(policyOverrideSchema)
  .superRefine((section, ctx) => {
    for (const name of Object.keys(section)) {
      if (!/^[a-z][a-zA-Z0-9]*$/.test(name)) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'a policy name is camelCase' });
        continue;
      }
      const policy = resolvePolicy(section, name);
      const trialEndMs = policy.halfOpenAfterMs + policy.timeoutMs;
      if (policy.critical && policy.breakerThreshold > 0 && policy.maxOpenMs <= trialEndMs) {
        // The open clock runs from the first opening until a trial call closes the breaker; no
        // trial comes before halfOpenAfterMs, and one may take timeoutMs: below their sum a
        // healthy dependency's trial could be cut short by the exit (69), a restart loop.
        ctx.addIssue({
          code: 'custom',
          path: [name, 'maxOpenMs'],
          message: `must be more than halfOpenAfterMs + timeoutMs (${policy.halfOpenAfterMs} + ${policy.timeoutMs} = ${trialEndMs}) for a critical breaker: it dies before the first trial call can answer otherwise`,
          params: fieldsRead(name, 'maxOpenMs', 'halfOpenAfterMs', 'timeoutMs', 'critical'),
        });
      }
      if (policy.maxDelayMs < policy.baseDelayMs) {
        ctx.addIssue({
          code: 'custom',
          path: [name, 'maxDelayMs'],
          message: `must be at least baseDelayMs (${policy.baseDelayMs})`,
          params: fieldsRead(name, 'maxDelayMs', 'baseDelayMs'),
        });
      }
    }
  });

export type PoliciesConfig = { default: PolicyConfig } & Record<string, PolicyOverride>;

/**
 * The environment variables for the named policies: `POLICY_<NAME>_<FIELD>` for each field
 * of each name. Compose into the service's env map next to the section's schema.
 */
export function policyEnv(names: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    for (const field of Object.keys(policyFields)) {
      env[`POLICY_${upperSnake(name)}_${upperSnake(field)}`] = `policies.${name}.${field}`;
    }
  }
  return env;
}
