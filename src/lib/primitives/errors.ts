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
  HTTP: 'E_HTTP',
  AMQP_PROTOCOL: 'E_AMQP_PROTOCOL',
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

/** Node, undici and zeromq system codes: the network or the peer had a moment. */
const transientSystemCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** System codes that mean the environment is set up wrong: no retry helps, an operator must. */
const dependencySystemCodes = new Set(['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES']);

/** Names of errors that mean "gave up waiting": AbortSignal.timeout() and aborted fetches. */
const transientNames = new Set(['TimeoutError', 'AbortError']);

/**
 * The marker fields of cockatiel's errors (it leaves `name` as 'Error'; its own type guards
 * read these): a timed-out attempt, an open or isolated breaker, a full bulkhead, a breaker
 * still loading its state. All are worth another try later.
 */
const transientMarkers = [
  'isTaskCancelledError',
  'isBrokenCircuitError',
  'isBulkheadRejectedError',
  'isHydratingCircuitError',
] as const;

/**
 * AMQP reply codes (amqplib sets them as a numeric `code` on connection and channel close
 * errors) that mean the broker is gone or set up differently from what we expect: 320
 * connection forced, 402 invalid path, 403 access refused, 404 not found, 405 resource locked,
 * 530 not allowed, 541 internal error. 406 precondition failed is listed apart: it is a
 * topology mismatch ("inequivalent arg") or our own bug (unknown delivery tag).
 */
const amqpDependencyCodes = new Set([320, 402, 403, 404, 405, 530, 541]);

/** amqplib's plain `Error`s for a lost or refused connection, by their fixed messages (2.x). */
const amqpLostConnection =
  /^(Heartbeat timeout|Unexpected close|Socket closed abruptly|Handshake terminated by server|Connection closed|Channel closed|channel closed|Channel ended)/;

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
  return (code === 'EBADF' || code === 'EAGAIN') && isErrno(error);
}

function isErrno(error: unknown): boolean {
  return typeof fieldOf(error, 'errno') === 'number';
}

/** True for an error from the zod validation library (a schema rejected input). */
function isValidationError(error: unknown): boolean {
  return fieldOf(error, 'name') === 'ZodError' && Array.isArray(fieldOf(error, 'issues'));
}

function classifyHttpStatus(status: number): ErrorKind {
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'transient';
  if (status === 401 || status === 403 || status === 407) return 'dependency';
  return status >= 400 ? 'permanent' : 'unexpected';
}

function classifyAmqp(code: number, message: string): ErrorKind | undefined {
  if (amqpDependencyCodes.has(code)) return 'dependency';
  if (code === 406) return message.includes('inequivalent arg') ? 'dependency' : 'unexpected';
  return code >= 500 ? 'unexpected' : undefined;
}

/**
 * The one decision point for what went wrong, for every error the project raises or receives.
 * Pure: the caller decides what to do. The table (docs/resilience.md repeats it):
 * - DependencyError; HttpError 401/403/407; AMQP reply codes 320, 402-405, 530, 541 and 406
 *   "inequivalent arg"; amqplib's lost-connection errors (Heartbeat timeout, Unexpected close,
 *   Connection closed, Channel closed, handshake refused, IllegalOperationError); EADDRINUSE,
 *   EADDRNOTAVAIL, EACCES -> 'dependency';
 * - zeromq EBADF/EAGAIN/ETERM on a closed socket -> 'socket-closed';
 * - TransientError; HttpError 408/425/429/5xx; network system codes (ECONNREFUSED, ECONNRESET,
 *   ETIMEDOUT, undici timeouts...); TimeoutError, AbortError; cockatiel's TaskCancelledError,
 *   BrokenCircuitError, BulkheadRejectedError -> 'transient';
 * - PermanentError; other HttpError 4xx; zod validation errors -> 'permanent';
 * - an error with no code of its own (fetch's `TypeError: fetch failed`, a plain wrapper) is
 *   classified by its `cause`; anything else -> 'unexpected'.
 */
export function classify(error: unknown): ErrorKind {
  return classifyAt(error, 0);
}

function classifyAt(error: unknown, depth: number): ErrorKind {
  if (isDependencyError(error)) return 'dependency';
  if (isSocketClosedError(error) || (hasCode(error, 'ETERM') && isErrno(error))) {
    return 'socket-closed';
  }
  const code = fieldOf(error, 'code');
  const name = fieldOf(error, 'name');
  const message = fieldOf(error, 'message');
  const retryable = fieldOf(error, 'retryable');
  if (typeof retryable === 'boolean' && typeof code === 'string') {
    if (code === ErrorCodes.PERMANENT || code === ErrorCodes.TRANSIENT) {
      return retryable ? 'transient' : 'permanent';
    }
  }
  const status = fieldOf(error, 'status');
  if (code === ErrorCodes.HTTP && typeof status === 'number') return classifyHttpStatus(status);
  if (typeof code === 'string' && transientSystemCodes.has(code)) return 'transient';
  if (typeof code === 'string' && dependencySystemCodes.has(code)) return 'dependency';
  if (typeof code === 'number' && typeof message === 'string') {
    const amqp = classifyAmqp(code, message);
    if (amqp !== undefined) return amqp;
  }
  if (name === 'IllegalOperationError') return 'dependency';
  if (typeof message === 'string' && amqpLostConnection.test(message)) return 'dependency';
  if (typeof name === 'string' && transientNames.has(name)) return 'transient';
  if (transientMarkers.some((marker) => fieldOf(error, marker) === true)) return 'transient';
  if (isValidationError(error)) return 'permanent';
  const cause = fieldOf(error, 'cause');
  if (code === undefined && cause !== undefined && depth < 5) return classifyAt(cause, depth + 1);
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
  /** HttpError's status: classify() needs it on both sides. */
  status?: number;
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
  for (const key of ['errno', 'status'] as const) {
    const value = fieldOf(error, key);
    if (typeof value === 'number') out[key] = value;
  }
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
  if (data.status !== undefined) error['status'] = data.status;
  if (data.dependency !== undefined) error['dependency'] = data.dependency;
  if (data.worker !== undefined) error['worker'] = data.worker;
  return error;
}
