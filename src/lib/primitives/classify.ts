import { ErrorCodes, fieldOf, hasCode, isDependencyError } from './errors.js';

/**
 * The one decision point for failed work: `classify()` turns any error into the kind of
 * treatment it gets (retry, die quietly, report). It reads fields, never classes, so it
 * answers the same across realms and thread boundaries.
 */

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
