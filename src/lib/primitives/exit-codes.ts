import { ErrorCodes, fieldOf, isConfigError } from './errors.js';
import { classify } from './classify.js';

/**
 * The process exit codes. 0 only for a requested stop, so a supervisor configured with
 * `autorestart=unexpected` and `exitcodes=0` restarts exactly the failures. Codes follow
 * sysexits(3) where one fits. README carries this table.
 */
export const ExitCode = {
  /** TERM or INT asked for a stop, and it finished cleanly. */
  OK: 0,
  /** An application error: a bug or an unforeseen condition. */
  APPLICATION_ERROR: 70,
  /** A worker thread died or hung while the service was running. */
  WORKER_FAILURE: 71,
  /** A dependency (broker, remote service) is down or misconfigured. */
  DEPENDENCY_FAILURE: 69,
  /** The configuration is invalid; nothing started. */
  CONFIG_ERROR: 78,
  /** Shutdown did not finish before the hard deadline. */
  SHUTDOWN_DEADLINE: 124,
  /** A second TERM forced an immediate exit (128 + SIGTERM). */
  FORCED_TERM: 143,
  /** A second INT forced an immediate exit (128 + SIGINT). */
  FORCED_INT: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code that says what `cause` was; `undefined` (a requested stop) gives 0. */
export function exitCodeFor(cause: unknown): ExitCodeValue {
  if (cause === undefined) return ExitCode.OK;
  if (isConfigError(cause)) return ExitCode.CONFIG_ERROR;
  const code = fieldOf(cause, 'code');
  if (code === ErrorCodes.SHUTDOWN_DEADLINE) return ExitCode.SHUTDOWN_DEADLINE;
  if (classify(cause) === 'dependency') return ExitCode.DEPENDENCY_FAILURE;
  // A worker that died of a dependency failure is a dependency failure (checked above, via
  // the cause chain below); any other worker death or hang has its own code.
  const inner = fieldOf(cause, 'cause');
  if (inner !== undefined && classify(inner) === 'dependency') return ExitCode.DEPENDENCY_FAILURE;
  if (
    code === ErrorCodes.WORKER_DIED ||
    code === ErrorCodes.WORKER_HUNG ||
    code === ErrorCodes.WORKER_START
  ) {
    return ExitCode.WORKER_FAILURE;
  }
  return ExitCode.APPLICATION_ERROR;
}
