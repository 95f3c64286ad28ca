/**
 * The error catalogue: every code the project raises, one base class with a stable `code` and
 * a `retryable` flag, the subclasses the core raises everywhere, and the field readers that
 * work across realms. What the codes mean is decided in classify.ts; how errors cross a thread
 * boundary in error-serialization.ts. The error kinds of one integration (AmqpProtocolError,
 * SocketClosedError, PolicyRejectedError...) live with the integration, their codes here.
 */

/** Every code the project raises. Stable: logs, exit codes and tests key on them. */
export const ErrorCodes = {
  CONFIG: 'E_CONFIG',
  DEPENDENCY: 'E_DEPENDENCY',
  WORKER_DIED: 'E_WORKER_DIED',
  WORKER_HUNG: 'E_WORKER_HUNG',
  WORKER_START: 'E_WORKER_START',
  ZMQ_IN_WORKER: 'E_ZMQ_IN_WORKER',
  SHUTDOWN_DEADLINE: 'E_SHUTDOWN_DEADLINE',
  TRANSIENT: 'E_TRANSIENT',
  PERMANENT: 'E_PERMANENT',
  THREAD_CHANNEL_CLOSED: 'E_THREAD_CHANNEL_CLOSED',
  FAULT_INJECTED: 'E_FAULT_INJECTED',
  HTTP: 'E_HTTP',
  AMQP_PROTOCOL: 'E_AMQP_PROTOCOL',
  /** An AMQP channel closed (by us or the broker) under an operation: the cause of a loss. */
  AMQP_CHANNEL_CLOSED: 'E_AMQP_CHANNEL_CLOSED',
  /** A ZeroMQ socket closed under an operation (zeromq's EBADF, EAGAIN, ETERM). */
  SOCKET_CLOSED: 'E_SOCKET_CLOSED',
  /** A resilience policy refused a call: attempt timed out, breaker open, bulkhead full. */
  POLICY_REJECTED: 'E_POLICY_REJECTED',
  /** A message's handler did not settle within the consumer's message timeout. */
  MESSAGE_STUCK: 'E_MESSAGE_STUCK',
  /** Start-up did not reach `ready` within STARTUP_TIMEOUT_MS. */
  STARTUP_TIMEOUT: 'E_STARTUP_TIMEOUT',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface WorkerBaseErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

/** Base class of every error the project throws on purpose. */
export class WorkerBaseError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: WorkerBaseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A configuration value is missing or malformed. Raised at start-up only. */
export class ConfigError extends WorkerBaseError {
  constructor(message: string, options: WorkerBaseErrorOptions = {}) {
    super(ErrorCodes.CONFIG, message, options);
  }
}

/**
 * A dependency (broker, database, remote API) is down or misconfigured: nothing to debug in
 * our code. Logged as a warning, not reported as an application error, and ends the process
 * with the dependency-failure exit code so the supervisor restarts it.
 */
export class DependencyError extends WorkerBaseError {
  readonly dependency: string;
  constructor(dependency: string, message: string, options: WorkerBaseErrorOptions = {}) {
    super(ErrorCodes.DEPENDENCY, `${dependency}: ${message}`, {
      retryable: true,
      ...options,
    });
    this.dependency = dependency;
  }
}

/** A transient failure of one piece of work: worth another try later. */
export class TransientError extends WorkerBaseError {
  constructor(message: string, options: WorkerBaseErrorOptions = {}) {
    super(ErrorCodes.TRANSIENT, message, { ...options, retryable: true });
  }
}

/** A permanent failure of one piece of work (bad input, rule violated): never retried. */
export class PermanentError extends WorkerBaseError {
  constructor(message: string, options: WorkerBaseErrorOptions = {}) {
    super(ErrorCodes.PERMANENT, message, { ...options, retryable: false });
  }
}

/** A named worker thread exited, hung, or failed to start while the service was running. */
export class WorkerFailureError extends WorkerBaseError {
  readonly worker: string;
  constructor(code: string, worker: string, message: string, options: WorkerBaseErrorOptions = {}) {
    super(code, message, options);
    this.worker = worker;
  }
}

/**
 * An HTTP call got an answer that is not a success. `classify()` decides by `status`:
 * 408, 425, 429 and 5xx are transient; 401, 403 and 407 mean the dependency's credentials or
 * set-up are wrong (a dependency failure); any other 4xx is permanent.
 */
export class HttpError extends WorkerBaseError {
  readonly status: number;
  constructor(status: number, message: string, options: WorkerBaseErrorOptions = {}) {
    super(ErrorCodes.HTTP, `HTTP ${status}: ${message}`, options);
    this.status = status;
  }
}

/** Shutdown did not finish before its hard deadline. */
export class ShutdownDeadlineError extends WorkerBaseError {
  constructor(deadlineMs: number) {
    super(ErrorCodes.SHUTDOWN_DEADLINE, `shutdown did not finish within ${deadlineMs} ms`);
  }
}

/**
 * The reason a requested stop aborts a shutdown signal with (a process's, a worker thread's):
 * an `AbortError`, as Node names a wait given up on (`AbortSignal.abort()` gives one), so the
 * work it cuts short ends as cancelled, not failed. `classify()` says 'transient' (done again
 * after the restart; a message in hand goes back) and the exception scope takes it for
 * shutdown noise, in any thread. A plain Error there was 'unexpected': the sample's notifier
 * warned once for each notification in flight (1,691 lines at one TERM). A failure's stop
 * aborts with its cause instead.
 */
export function stopReason(message: string): Error {
  return new DOMException(message, 'AbortError');
}

/** Reads a string field of an unknown value without trusting its class (works across realms). */
export function fieldOf(error: unknown, field: string): unknown {
  if (typeof error !== 'object' || error === null) return undefined;
  // A getter that throws (a proxy, a library's lazy field) reads as absent: what decides and
  // serialises errors runs in the exception handlers, and must not throw there.
  try {
    return (error as Record<string, unknown>)[field];
  } catch {
    return undefined;
  }
}

/**
 * `error` and the errors it was caused by (`cause`, read as `fieldOf` reads), at most `depth`
 * of them: a chain that loops or runs deep ends there.
 */
export function* causeChain(error: unknown, depth = 6): Generator {
  let current = error;
  for (let i = 0; i < depth && current !== undefined && current !== null; i++) {
    yield current;
    current = fieldOf(current, 'cause');
  }
}

/** True when `error` carries the given code, whatever realm or thread it was made in. */
export function hasCode(error: unknown, code: string): boolean {
  return fieldOf(error, 'code') === code;
}

/**
 * True for a configuration error (a ConfigError, in this thread or rebuilt from another's): a
 * setting to mend, found at start or while running; the process ends with 78, no report.
 */
export function isConfigError(error: unknown): boolean {
  return hasCode(error, ErrorCodes.CONFIG);
}

/**
 * True for a dependency failure raised as one: a DependencyError, or an AMQP channel that
 * closed under an operation (a DependencyError too, with a code of its own so that a shutdown
 * can tell it from an outage).
 */
export function isDependencyError(error: unknown): boolean {
  return hasCode(error, ErrorCodes.DEPENDENCY) || hasCode(error, ErrorCodes.AMQP_CHANNEL_CLOSED);
}
