/**
 * The error catalogue: one base class with a stable `code` and a `retryable` flag, the
 * subclasses the core raises, the one `classify()` decision point, and the explicit
 * serialisation used at thread boundaries (`postMessage` drops classes and custom fields).
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

/** Shutdown did not finish before its hard deadline. */
export class ShutdownDeadlineError extends WorkerBaseError {
  constructor(deadlineMs: number) {
    super(ErrorCodes.SHUTDOWN_DEADLINE, `shutdown did not finish within ${deadlineMs} ms`);
  }
}

/** How an error is to be treated. One value per decision the code makes. */
export type ErrorKind =
  /** A ZeroMQ socket was closed under a pending operation (EBADF, EAGAIN): expected in shutdown. */
  | 'socket-closed'
  /** A dependency is down or misconfigured: warn, no report, die with the dependency code. */
  | 'dependency'
  /** Transient failure of one piece of work: retry later. */
  | 'transient'
  /** Permanent failure of one piece of work: do not retry. */
  | 'permanent'
  /** Anything else: a bug or an unforeseen condition; log with stack and report. */
  | 'unexpected';

const transientSystemCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** Reads a string field of an unknown value without trusting its class (works across realms). */
export function fieldOf(error: unknown, field: string): unknown {
  return typeof error === 'object' && error !== null
    ? (error as Record<string, unknown>)[field]
    : undefined;
}

/** True when `error` carries the given code, whatever realm or thread it was made in. */
export function hasCode(error: unknown, code: string): boolean {
  return fieldOf(error, 'code') === code;
}

export function isDependencyError(error: unknown): boolean {
  return hasCode(error, ErrorCodes.DEPENDENCY);
}

/** True for the errors zeromq.js v6 raises for an operation on a socket that was closed. */
export function isSocketClosedError(error: unknown): boolean {
  const code = fieldOf(error, 'code');
  return (code === 'EBADF' || code === 'EAGAIN') && typeof fieldOf(error, 'errno') === 'number';
}

/**
 * True for the errors amqplib raises itself: a channel or connection closed by the broker (an
 * AMQP reply code with the class and method ids of the failed operation) or an operation on a
 * channel that is already closed (IllegalOperationError). The AMQP client wraps them in a
 * DependencyError; this catches any that reach `classify()` unwrapped.
 */
export function isAmqpError(error: unknown): boolean {
  if (fieldOf(error, 'name') === 'IllegalOperationError') return true;
  return (
    typeof fieldOf(error, 'code') === 'number' &&
    typeof fieldOf(error, 'classId') === 'number' &&
    typeof fieldOf(error, 'methodId') === 'number'
  );
}

/**
 * The one decision point for what went wrong. Typed errors decide by `code` and `retryable`;
 * well-known foreign errors by their system code. Pure: the caller decides what to do.
 */
export function classify(error: unknown): ErrorKind {
  if (isDependencyError(error) || isAmqpError(error)) return 'dependency';
  if (isSocketClosedError(error)) return 'socket-closed';
  const retryable = fieldOf(error, 'retryable');
  if (typeof retryable === 'boolean' && typeof fieldOf(error, 'code') === 'string') {
    if (hasCode(error, ErrorCodes.PERMANENT) || hasCode(error, ErrorCodes.TRANSIENT)) {
      return retryable ? 'transient' : 'permanent';
    }
  }
  const code = fieldOf(error, 'code');
  if (typeof code === 'string' && transientSystemCodes.has(code)) return 'transient';
  const name = fieldOf(error, 'name');
  if (name === 'TimeoutError') return 'transient';
  return 'unexpected';
}

/** The plain shape an error takes across a thread boundary. */
export interface SerializedError {
  name: string;
  code?: string;
  message: string;
  stack?: string;
  retryable?: boolean;
  errno?: number;
  dependency?: string;
  worker?: string;
  cause?: SerializedError;
}

/** Turns any thrown value into a structured-clone-safe object, causes included (depth 5). */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error) && (typeof error !== 'object' || error === null)) {
    return { name: 'NonError', message: String(error) };
  }
  const name = fieldOf(error, 'name');
  const message = fieldOf(error, 'message');
  const out: SerializedError = {
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : JSON.stringify(error),
  };
  for (const key of ['code', 'stack', 'dependency', 'worker'] as const) {
    const value = fieldOf(error, key);
    if (typeof value === 'string') out[key] = value;
  }
  const retryable = fieldOf(error, 'retryable');
  if (typeof retryable === 'boolean') out.retryable = retryable;
  const errno = fieldOf(error, 'errno');
  if (typeof errno === 'number') out.errno = errno;
  const cause = fieldOf(error, 'cause');
  if (cause !== undefined && depth < 5) out.cause = serializeError(cause, depth + 1);
  return out;
}

/** Rebuilds an Error from its serialised form; `classify()` gives the same answer on both sides. */
export function deserializeError(data: SerializedError): Error {
  const cause = data.cause === undefined ? undefined : deserializeError(data.cause);
  const error = (
    data.code === undefined
      ? new Error(data.message, cause === undefined ? undefined : { cause })
      : new WorkerBaseError(data.code, data.message, { cause, retryable: data.retryable })
  ) as Error & Record<string, unknown>;
  error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  if (data.errno !== undefined) error['errno'] = data.errno;
  if (data.dependency !== undefined) error['dependency'] = data.dependency;
  if (data.worker !== undefined) error['worker'] = data.worker;
  return error;
}
