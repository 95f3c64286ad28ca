import { z } from 'zod';
import { anyFlagsSchema } from '../flags.js';
import { faultDescription, faultPattern } from '../lifecycle/faults.js';
import { policiesSchema, policyEnv } from '../resilience/policy-config.js';
import { flag, integer, millis, notSecret } from '../primitives/config-fields.js';
import type { ConfigIssue } from '../primitives/config.js';
import { deadlineMarginMs } from '../lifecycle/shutdown-coordinator.js';
import { telemetryConfigSchema, telemetryEnv } from '../telemetry/telemetry-config.js';
import { isTracingOn } from '../telemetry/switches.js';

/**
 * The core's own configuration section, composed of the areas' sections. Every leaf says its
 * expected form with `.describe()`: a config error quotes it. The building blocks are in
 * primitives/config-fields.ts (the public door exports them from there).
 */

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export const coreConfigSchema = z.object({
  app: z.object({
    // On every log line (and Sentry's tags): from their NAME_FILE too, none is a secret. As
    // one, APP_NAME_FILE turned every line's "app" into [Redacted] (a review helper's finding).
    name: notSecret(
      z
        .string()
        .regex(/^[a-z][a-z0-9-]{0,62}$/)
        .describe('a lower-case name: letters, digits and dashes, starting with a letter'),
    ),
    environment: notSecret(
      z.string().min(1).describe('a non-empty name such as production or dev'),
    ),
    version: notSecret(z.string().describe('a version string; the git commit when known')),
  }),
  log: z.object({
    level: z.enum(logLevels).describe(`one of ${logLevels.join(', ')}`),
    pretty: z
      .enum(['auto', 'true', 'false'])
      .describe('auto (when stdout is a TTY), true or false'),
  }),
  shutdown: z
    .object({
      escalationMs: millis(50),
      deadlineMs: millis(100),
      stepTimeoutMs: millis(10),
    })
    .refine((s) => s.deadlineMs > s.escalationMs, {
      path: ['deadlineMs'],
      message: 'must be greater than shutdown.escalationMs',
    }),
  threads: z
    .object({
      heartbeatMs: millis(20),
      startTimeoutMs: millis(100),
      reportIntervalMs: millis(100),
      // V8's semi-space cap in MiB (its young generation is 3 of them): the lever on RSS under
      // allocation churn (docs/performance.md). 0 leaves V8's default (16 MiB on 64-bit).
      maxSemiSpaceMb: integer(0, 256).describe(
        'the young generation cap per thread, a semi-space in MiB: 0 (V8 default) to 256',
      ),
      // V8's parallel scavenge (helper threads join each young-generation GC): off by default,
      // since with a small young generation on few cores it costs more CPU than it saves
      // (runtime/gc-settings.ts, docs/performance.md).
      parallelScavenge: flag(),
      // V8's old-generation growing factor, in percent over the live size after a full GC: what
      // holds RSS under a sustained load; 0 leaves V8's own factor, up to 4x on a machine with
      // gigabytes of RAM (runtime/gc-settings.ts, docs/performance.md).
      heapGrowingPercent: integer(0, 400).describe(
        "the old generation's growth after a full GC, in percent: 0 (V8's own factor) to 400",
      ),
      // How long the main thread may be silent before a worker thread's watchdog kills the
      // process (threads/main-watchdog.ts), or, with no worker threads, the stall sentinel
      // (lifecycle/sentinel.ts): a main thread that never wakes can stop nothing.
      mainStallLimitMs: integer(0, 3_600_000).describe(
        'milliseconds of main-thread silence before the process is killed: 0 (off) to 3600000',
      ),
      // Whether SIGUSR1 opens the inspector, as Node's own action does (lifecycle/signals.ts):
      // off, a USR1 is logged and ignored, and the watchdog and the sentinels stay armed.
      inspectorOnSigusr1: flag(),
    })
    // Main's pulse comes every 250 ms (pulseEveryMs) and a worker looks at each heartbeat.
    .refine(
      (t) => t.mainStallLimitMs === 0 || t.mainStallLimitMs >= Math.max(1000, 2 * t.heartbeatMs),
      {
        path: ['mainStallLimitMs'],
        message: 'must be 0 (off), or at least 1000 and at least twice threads.heartbeatMs',
      },
    ),
  startup: z
    .object({
      // The longest start-up may take to `ready` (start-up.ts, limitStartUp).
      timeoutMs: integer(0, 3_600_000).describe(
        'milliseconds from start to ready before start-up counts as failed: 0 (off) to 3600000',
      ),
      // Where the service writes its pid once ready: supervisord's listener (docker/
      // fatal-listener.py) tells a run that never got ready from one that worked, then died.
      readyFile: notSecret(
        z
          .string()
          .refine((v) => v === '' || v.startsWith('/'))
          .describe('an absolute path the service writes its pid to once ready, or empty (none)'),
      ),
    })
    .refine((s) => s.timeoutMs === 0 || s.timeoutMs >= 1000, {
      path: ['timeoutMs'],
      message: 'must be 0 (off) or at least 1000',
    }),
  zmq: z.object({
    lingerMs: integer(0, 10_000).describe('the ZeroMQ linger in milliseconds, 0 to 10000'),
  }),
  telemetry: telemetryConfigSchema,
  // Never a secret, even from FAULT_FILE (the chaos drill's switch): the logs must name it.
  fault: notSecret(z.string().regex(faultPattern).describe(faultDescription)),
  policies: policiesSchema,
  flags: anyFlagsSchema,
});

export type CoreConfig = z.infer<typeof coreConfigSchema>;

/**
 * What must hold between the core's sections (`loadConfig`'s `crossChecks`). The readiness
 * delay is the first step of every requested stop: at or past the escalation every stop would
 * escalate (debug logging, the open-resource listing), and at or past the deadline every TERM
 * ended in 124, a restart instead of a stop (measured: delay 5000, deadline 3000, exit 124).
 */
export function coreConfigChecks(config: CoreConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { readinessDelayMs } = config.telemetry.health;
  const { escalationMs } = config.shutdown;
  if (readinessDelayMs > 0 && readinessDelayMs >= escalationMs) {
    issues.push({
      path: ['telemetry', 'health', 'readinessDelayMs'],
      message: `must be less than shutdown.escalationMs (${escalationMs}): the delay opens every requested stop, which would always escalate, and past shutdown.deadlineMs end in exit 124`,
      settings: [{ key: ['..', '..', 'shutdown', 'escalationMs'] }],
    });
  }
  issues.push(...flushBoundIssues(config));
  return issues;
}

/**
 * What a stop keeps for its flush phase on top of the longest telemetry bound: the 'flush
 * telemetry' step's 500 ms over it (observability.ts) and 'flush logs' (100 ms, build-core.ts).
 */
const flushOverheadMs = 600;

/** The bound each integration that is on keeps to in the flush phase, and what it waits for. */
function flushBounds(config: CoreConfig): Array<{ path: string[]; ms: number; what: string }> {
  const t = config.telemetry;
  const bounds: Array<{ path: string[]; ms: number; what: string }> = [];
  const add = (section: string, key: string, ms: number, what: string) =>
    bounds.push({ path: ['telemetry', section, key], ms, what });
  if (t.sentry.dsn !== '') add('sentry', 'flushTimeoutMs', t.sentry.flushTimeoutMs, 'reports');
  if (isTracingOn(t)) add('tracing', 'flushTimeoutMs', t.tracing.flushTimeoutMs, 'spans');
  if (t.influx.url !== '') add('influx', 'flushTimeoutMs', t.influx.flushTimeoutMs, 'points');
  if (t.cronitor.apiKey !== '') add('cronitor', 'timeoutMs', t.cronitor.timeoutMs, 'pings');
  return bounds;
}

/**
 * The telemetry flush bounds against the shutdown's deadline. A stop waits up to the longest of
 * them in its flush phase, and the coordinator keeps that phase's time free from the start: the
 * steps before it get the deadline less its margin less the flush. CRONITOR_TIMEOUT_MS 20000
 * against a 6000 ms deadline left them 1 ms each and every stop ended 124 (27 ms with a healthy
 * collector, 6 s with a hanging one); SENTRY_, INFLUX_ and TRACING_FLUSH_TIMEOUT_MS 20000 the
 * same (124 in 27 to 67 ms). The rule: the steps that stop the work get at least as long as the
 * flush keeps. Checked, not clamped: a value the deadline cannot honour is a setting to mend,
 * said once at start, not a flush cut short at every stop. An integration that is off takes
 * none of the deadline.
 */
function flushBoundIssues(config: CoreConfig): ConfigIssue[] {
  const { deadlineMs } = config.shutdown;
  const maxMs = Math.floor((deadlineMs - deadlineMarginMs) / 2) - flushOverheadMs;
  const deadline = `shutdown.deadlineMs (SHUTDOWN_DEADLINE_MS) ${deadlineMs}`;
  return flushBounds(config)
    .filter((bound) => bound.ms > maxMs)
    .map(({ path, ms, what }) => {
      const neededMs = 2 * (ms + flushOverheadMs) + deadlineMarginMs;
      const fix =
        maxMs >= 10
          ? `must be at most ${maxMs} with ${deadline}`
          : `needs ${deadline} raised to at least ${neededMs}`;
      return {
        path,
        message: `${fix}: a stop keeps it + ${flushOverheadMs} ms for its flush (${what} in flight) and ${deadlineMarginMs} ms before the deadline, and the steps that stop the work must get at least as long; larger, they are cut short and a stop ends 124`,
      };
    });
}

/**
 * Prefixes whose variables the core makes from names (`flagEnv`, `policyEnv`): one set under
 * them that the env map lacks is named in a warning at start-up.
 */
export const coreVariablePrefixes = ['FLAG_', 'POLICY_'] as const;

/** Environment variable -> config path, for the core section. Apps add their own. */
export const coreEnv = {
  APP_NAME: 'app.name',
  APP_ENV: 'app.environment',
  APP_VERSION: 'app.version',
  LOG_LEVEL: 'log.level',
  LOG_PRETTY: 'log.pretty',
  SHUTDOWN_ESCALATION_MS: 'shutdown.escalationMs',
  SHUTDOWN_DEADLINE_MS: 'shutdown.deadlineMs',
  SHUTDOWN_STEP_TIMEOUT_MS: 'shutdown.stepTimeoutMs',
  HEARTBEAT_MS: 'threads.heartbeatMs',
  WORKER_START_TIMEOUT_MS: 'threads.startTimeoutMs',
  THREAD_REPORT_INTERVAL_MS: 'threads.reportIntervalMs',
  MAX_SEMI_SPACE_MB: 'threads.maxSemiSpaceMb',
  PARALLEL_SCAVENGE: 'threads.parallelScavenge',
  HEAP_GROWING_PERCENT: 'threads.heapGrowingPercent',
  MAIN_STALL_LIMIT_MS: 'threads.mainStallLimitMs',
  INSPECTOR_ON_SIGUSR1: 'threads.inspectorOnSigusr1',
  STARTUP_TIMEOUT_MS: 'startup.timeoutMs',
  READY_FILE: 'startup.readyFile',
  ZMQ_LINGER_MS: 'zmq.lingerMs',
  FAULT: 'fault',
  ...policyEnv(['default']),
  ...telemetryEnv,
} as const satisfies Record<string, string>;
