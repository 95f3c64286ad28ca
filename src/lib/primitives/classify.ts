import { ErrorCodes, fieldOf, isDependencyError } from './errors.js';

/**
 * The one decision point for failed work: `classify()` turns any error into the kind of
 * treatment it gets (retry, die quietly, report). It reads fields, never classes, so it
 * answers the same across realms and thread boundaries.
 *
 * It reads the project's own codes and Node's own errors, nothing else. Each integration turns
 * its library's errors into ours where it calls the library (amqp-errors.ts for amqplib,
 * socket-registry.ts for zeromq, policies.ts for cockatiel, the config loader for zod). Node's
 * system codes and its `TimeoutError`/`AbortError` stay ours to read: Node is the platform,
 * not a library behind one door; they come from every socket, DNS lookup and `fetch` (undici
 * is Node's own fetch), and their names are stable and documented.
 */

/** How an error is to be treated. One value per decision the code makes. */
export type ErrorKind =
  /** A ZeroMQ socket was closed under a pending operation: expected in shutdown. */
  | 'socket-closed'
  /** A dependency is down or misconfigured: warn, no report, die with the dependency code. */
  | 'dependency'
  /** Transient failure of one piece of work: retry later. */
  | 'transient'
  /** Permanent failure of one piece of work: do not retry. */
  | 'permanent'
  /** Anything else: a bug or an unforeseen condition; log with stack and report. */
  | 'unexpected';

/** Node's (and undici's) system codes: the network or the peer had a moment. */
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

/** Names of Node's errors that mean "gave up waiting": AbortSignal.timeout(), aborted fetches. */
const transientNames = new Set(['TimeoutError', 'AbortError']);

function classifyHttpStatus(status: number): ErrorKind {
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'transient';
  if (status === 401 || status === 403 || status === 407) return 'dependency';
  return status >= 400 ? 'permanent' : 'unexpected';
}

/**
 * The one decision point for what went wrong, for every error the project raises or receives.
 * Pure: the caller decides what to do. The table (docs/resilience.md repeats it):
 * - DependencyError (amqplib's lost connections, refused credentials, missing queues and
 *   topology mismatches are made into one where amqplib is called; zeromq's bind on an address
 *   in use likewise); AmqpChannelClosedError; HttpError 401/403/407; EADDRINUSE,
 *   EADDRNOTAVAIL, EACCES -> 'dependency';
 * - SocketClosedError (zeromq's EBADF/EAGAIN/ETERM on a closed socket) -> 'socket-closed';
 * - TransientError; PolicyRejectedError (cockatiel's timeout, open breaker, full bulkhead);
 *   HttpError 408/425/429/5xx; network system codes (ECONNREFUSED, ECONNRESET, ETIMEDOUT,
 *   undici timeouts...); TimeoutError, AbortError -> 'transient';
 * - PermanentError (a value a schema rejects is made into one by whoever validates it);
 *   other HttpError 4xx -> 'permanent';
 * - an error with no code of its own (fetch's `TypeError: fetch failed`, a plain wrapper) is
 *   classified by its `cause`; anything else (AmqpProtocolError, ConfigError, worker
 *   failures, bugs) -> 'unexpected'.
 */
export function classify(error: unknown): ErrorKind {
  return classifyAt(error, 0);
}

function classifyAt(error: unknown, depth: number): ErrorKind {
  if (isDependencyError(error)) return 'dependency';
  const code = fieldOf(error, 'code');
  switch (code) {
    case ErrorCodes.SOCKET_CLOSED:
      return 'socket-closed';
    case ErrorCodes.POLICY_REJECTED:
      return 'transient';
    case ErrorCodes.PERMANENT:
    case ErrorCodes.TRANSIENT: {
      const retryable = fieldOf(error, 'retryable');
      if (typeof retryable === 'boolean') return retryable ? 'transient' : 'permanent';
      break;
    }
    case ErrorCodes.HTTP: {
      const status = fieldOf(error, 'status');
      if (typeof status === 'number') return classifyHttpStatus(status);
      break;
    }
  }
  if (typeof code === 'string' && transientSystemCodes.has(code)) return 'transient';
  if (typeof code === 'string' && dependencySystemCodes.has(code)) return 'dependency';
  const name = fieldOf(error, 'name');
  if (typeof name === 'string' && transientNames.has(name)) return 'transient';
  const cause = fieldOf(error, 'cause');
  if (code === undefined && cause !== undefined && depth < 5) return classifyAt(cause, depth + 1);
  return 'unexpected';
}
