import type { Logger } from './log.js';
import { ErrorCodes, causeChain, fieldOf, hasCode, isConfigError } from './errors.js';
import { classify, type ErrorKind } from './classify.js';
import type { ProcessControl } from './process-control.js';

/**
 * The exception-handler scope for worker loops and tasks. One policy for every thread:
 * - the noise of closing things while shutting down (a ZeroMQ socket closed under a pending
 *   operation, a closed AMQP or thread channel, a wait cancelled by the shutdown itself):
 *   debug log only;
 * - a dependency failure: a warning, no error report, `die()`;
 * - a configuration error found while running (a port in use by the health endpoint's bind, a
 *   queue declared with other arguments): an error line, no error report (an operator's to
 *   mend, not a bug), `die()` (exit 78);
 * - anything else: an error log with the stack, an error report, and `die()` unless the
 *   scope says otherwise. During shutdown too: a failure while stopping is a failure, and
 *   `die()` then makes the exit code non-zero.
 */

/** What the scope did with an error. */
export type Handling = 'ignored' | 'dependency' | 'config' | 'reported';

export interface ScopeOptions {
  /** Names the scope in log lines and reports (a loop, a task, a worker). */
  name: string;
  log: Logger;
  control: ProcessControl;
  /**
   * After handling: 'die' (default) ends the process; 'swallow' goes on; 'continue' goes on
   * after an application error (logged and reported) but, as everywhere else, dies of a
   * dependency failure or a configuration error (a scheduled job's); 'rethrow' re-raises.
   */
  onError?: 'die' | 'swallow' | 'continue' | 'rethrow';
  /** Closed (in reverse order) when the scope exits, however it exits. */
  close?: ReadonlyArray<{ close(): unknown }>;
}

/**
 * Handles one error by the scope policy. Never throws: it runs in uncaught-exception handlers,
 * where a throw ends the process with no controlled shutdown. An error that cannot be read or
 * logged as it is (a field whose getter throws) is still classified as far as it can be,
 * logged by its type and message, reported, and dies.
 */
export function handleError(
  error: unknown,
  options: Omit<ScopeOptions, 'close'>,
): { handling: Handling; kind: ErrorKind } {
  const { log, control, name } = options;
  const kind = attempt((): ErrorKind => classify(error), 'unexpected');
  const { signal } = control;
  const stopping = signal.aborted || control.stopping?.aborted === true;
  if (stopping && attempt(() => isShutdownNoise(error, signal.reason), false)) {
    logHandling(log, 'debug', error, { kind, scope: name }, 'error during shutdown ignored');
    return { handling: 'ignored', kind };
  }
  const during = stopping ? { duringShutdown: true } : {};
  if (kind === 'dependency') {
    logHandling(log, 'warn', error, { kind, scope: name, ...during }, 'dependency failure');
    if (options.onError !== 'swallow') control.die(error);
    return { handling: 'dependency', kind };
  }
  if (attempt(() => isConfigError(error), false)) {
    logHandling(log, 'error', error, { scope: name, ...during }, 'configuration error');
    if (options.onError !== 'swallow') control.die(error);
    return { handling: 'config', kind };
  }
  logHandling(log, 'error', error, { kind, scope: name, ...during }, 'application error');
  // The logger's component lets the error reporters ignore noisy ones (telemetry config).
  const component: unknown = log.bindings()['component'];
  attempt(() => {
    control.report(error, {
      scope: name,
      kind,
      ...(typeof component === 'string' && { component }),
    });
  }, undefined);
  if ((options.onError ?? 'die') === 'die') control.die(error);
  return { handling: 'reported', kind };
}

/** `fn()`, or `fallback` when it throws. */
function attempt<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

/**
 * Logs the error with `fields`. The core's loggers never throw (a line that cannot be made is
 * written as what can be said: logger.ts); a logger that does is not let stop the handling.
 */
function logHandling(
  log: Logger,
  level: 'debug' | 'warn' | 'error',
  error: unknown,
  fields: Record<string, unknown>,
  msg: string,
): void {
  attempt(() => {
    log[level]({ err: error, ...fields }, msg);
  }, undefined);
}

/** Codes of a channel closed under an operation, and of Node's cancelled waits. */
const closedCodes = [ErrorCodes.AMQP_CHANNEL_CLOSED, ErrorCodes.THREAD_CHANNEL_CLOSED, 'ABORT_ERR'];

/**
 * True for what closing things during a shutdown is expected to raise: a ZeroMQ socket, an
 * AMQP channel or a thread channel closed under an operation (SocketClosedError,
 * AmqpChannelClosedError, THREAD_CHANNEL_CLOSED: each integration makes its library's error
 * into ours), and a wait cancelled by the shutdown (an AbortError, or an error caused by the
 * shutdown signal's own reason `abortReason`), looked for along the cause chain.
 */
export function isShutdownNoise(error: unknown, abortReason: unknown): boolean {
  for (const current of causeChain(error)) {
    if (current === abortReason) return true;
    if (classify(current) === 'socket-closed') return true;
    if (closedCodes.some((code) => hasCode(current, code))) return true;
    if (fieldOf(current, 'name') === 'AbortError') return true;
  }
  return false;
}

/**
 * Runs `fn` in the scope. Resolves with its result, or with undefined when it threw and the
 * scope did not re-raise. Closes `options.close` either way.
 */
export async function runInScope<T>(
  fn: () => Promise<T> | T,
  options: ScopeOptions,
): Promise<T | undefined> {
  try {
    return await fn();
  } catch (error) {
    handleError(error, options);
    if (options.onError === 'rethrow') throw error;
    return undefined;
  } finally {
    for (const resource of [...(options.close ?? [])].reverse()) {
      try {
        await resource.close();
      } catch (error) {
        options.log.debug({ err: error, scope: options.name }, 'close in scope exit failed');
      }
    }
  }
}
