import type { Logger } from '../log.js';
import { classify, type ErrorKind } from '../errors.js';
import type { ProcessControl } from './process-control.js';

/**
 * The exception-handler scope for worker loops and tasks. One policy for every thread:
 * - anything raised while shutting down: debug log only (sockets closed under a pending
 *   receive, aborted waits and the like are expected then);
 * - a dependency failure: a warning, no error report, `die()`;
 * - anything else: an error log with the stack, an error report, and `die()` unless the
 *   scope says otherwise.
 */

/** What the scope did with an error. */
export type Handling = 'ignored' | 'dependency' | 'reported';

export interface ScopeOptions {
  /** Names the scope in log lines and reports (a loop, a task, a worker). */
  name: string;
  log: Logger;
  control: ProcessControl;
  /** After handling: 'die' (default) ends the process; 'swallow' goes on; 'rethrow' re-raises. */
  onError?: 'die' | 'swallow' | 'rethrow';
  /** Closed (in reverse order) when the scope exits, however it exits. */
  close?: ReadonlyArray<{ close(): unknown }>;
}

/** Handles one error by the scope policy. Never throws. */
export function handleError(
  error: unknown,
  options: Omit<ScopeOptions, 'close'>,
): { handling: Handling; kind: ErrorKind } {
  const { log, control, name } = options;
  const kind = classify(error);
  if (control.signal.aborted) {
    log.debug({ err: error, kind, scope: name }, 'error during shutdown ignored');
    return { handling: 'ignored', kind };
  }
  if (kind === 'dependency') {
    log.warn({ err: error, kind, scope: name }, 'dependency failure');
    if (options.onError !== 'swallow') control.die(error);
    return { handling: 'dependency', kind };
  }
  log.error({ err: error, kind, scope: name }, 'application error');
  // The logger's component lets the error reporters ignore noisy ones (telemetry config).
  const component: unknown = log.bindings()['component'];
  control.report(error, { scope: name, kind, ...(typeof component === 'string' && { component }) });
  if ((options.onError ?? 'die') === 'die') control.die(error);
  return { handling: 'reported', kind };
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
