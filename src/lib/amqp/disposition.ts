import { classify, type ErrorKind } from '../primitives/classify.js';
import { serializeError } from '../primitives/error-serialization.js';
import { isConfigError } from '../primitives/errors.js';
import { redactSecrets } from '../primitives/secrets.js';
import type { AmqpNames } from './amqp-config.js';
import { countHeader } from './header-values.js';

/**
 * What becomes of a message whose handling failed, decided from `classify()` (the one
 * decision point) and the attempt count. Pure; the consumer carries it out.
 */

/** The headers the core reads and writes on messages. */
export const Headers = {
  /** 1-based number of the delivery attempt this copy is (absent on the first). */
  attempt: 'x-attempt',
  /** The correlation id, for producers that cannot set the property. */
  correlationId: 'x-correlation-id',
  /** On failed messages: why (the error message), its class, code and kind. */
  reason: 'x-failure-reason',
  errorClass: 'x-error-class',
  errorCode: 'x-error-code',
  errorKind: 'x-error-kind',
  /** On failed messages: attempts made, the queue it came from, and when it failed. */
  attempts: 'x-attempts',
  originalQueue: 'x-original-queue',
  failedAt: 'x-failed-at',
  /** On retried messages: the last error, for the log of the next attempt. */
  lastError: 'x-last-error',
} as const;

export type Disposition =
  /**
   * Hand the message back to the broker at once (shutdown, the broker itself failed, or a
   * configuration error: `config`, the process's to end with 78, the message's to wait for it).
   */
  | { action: 'requeue'; kind: ErrorKind; config?: true }
  /** Park it in a delay queue; it comes back as attempt `attempt` after `delayMs`. */
  | { action: 'retry'; kind: ErrorKind; attempt: number; queue: string; delayMs: number }
  /** Move it to the failed queue with headers saying why. */
  | { action: 'fail'; kind: ErrorKind; reason: string };

/**
 * Decides for a failure of attempt `attempt` (1-based). Permanent failures fail at once;
 * transient and unexpected ones are retried through the delay queues, then fail; a dependency
 * failure, a configuration error (a ConfigError a handler threw: the message is not at fault,
 * and no retry mends a setting), or any non-permanent failure during shutdown, requeues.
 */
export function decideDisposition(
  error: unknown,
  attempt: number,
  retryQueues: AmqpNames['retryQueues'],
  isShuttingDown: boolean,
): Disposition {
  const kind = classify(error);
  if (isConfigError(error)) return { action: 'requeue', kind, config: true };
  if (kind === 'permanent') return { action: 'fail', kind, reason: 'permanent failure' };
  if (kind === 'dependency' || kind === 'socket-closed' || isShuttingDown) {
    return { action: 'requeue', kind };
  }
  const next = retryQueues[attempt - 1];
  if (next === undefined) {
    return { action: 'fail', kind, reason: `gave up after ${attempt} attempts` };
  }
  return { action: 'retry', kind, attempt: attempt + 1, queue: next.name, delayMs: next.delayMs };
}

/**
 * Whether the process ends after this disposition (the message handed back first): a
 * dependency failure (69) or a configuration error (78), neither the message's fault.
 */
export function endsProcess(disposition: Disposition): boolean {
  return (
    disposition.kind === 'dependency' ||
    (disposition.action === 'requeue' && disposition.config === true)
  );
}

/**
 * The attempt number a message carries (1 when absent or malformed; own headers only), at
 * most `last`, the attempt after which there is no retry left: `x-attempt` is ours, but any
 * producer can set it, and 999999999999999 went to the failed queue as 'gave up after
 * 999999999999999 attempts'.
 */
export function attemptOf(headers: Record<string, unknown>, last: number): number {
  return Math.min(last, Math.max(1, countHeader(headers, Headers.attempt) ?? 1));
}

/**
 * An error's message as a header may carry it: secrets masked (a remembered one, a URL's
 * userinfo: fetch's error for a URL with credentials quotes it whole), at most `max`
 * characters. Headers leave the process (the broker, whoever reads the failed queue), and
 * they miss the log's last pass.
 */
export function errorText(error: unknown, max: number): string {
  return redactSecrets(serializeError(error).message).slice(0, max);
}

/** The longest error class or code a failed copy carries. */
const maxNameLength = 255;

/** The headers a message gets on its way to the failed queue. */
export function failureHeaders(
  error: unknown,
  disposition: Extract<Disposition, { action: 'fail' }>,
  attempt: number,
  originalQueue: string,
): Record<string, unknown> {
  const e = serializeError(error);
  return {
    [Headers.reason]: `${disposition.reason}: ${errorText(error, 1000)}`.slice(0, 1000),
    // A fork's error names and codes are its own: masked and bounded as the reason is (a
    // 200,000-character name made the copy unpublishable: 70 at every delivery).
    [Headers.errorClass]: redactSecrets(e.name).slice(0, maxNameLength),
    [Headers.errorCode]: redactSecrets(e.code ?? '').slice(0, maxNameLength),
    [Headers.errorKind]: disposition.kind,
    [Headers.attempts]: attempt,
    [Headers.originalQueue]: originalQueue,
    [Headers.failedAt]: new Date().toISOString(),
  };
}
