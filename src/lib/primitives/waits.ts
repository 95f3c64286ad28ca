import { setTimeout as delay } from 'node:timers/promises';

/**
 * The longest delay a Node timer keeps (2^31 - 1 ms, about 24.8 days). Past it, `setTimeout`
 * and `AbortSignal.timeout` fire after 1 ms, with only a warning on stderr.
 */
export const maxTimerMs = 2_147_483_647;

/**
 * `setTimeout` for any delay: one past a timer's longest is waited out in parts (one timer
 * would fire after 1 ms). Returns what clears it.
 */
function armTimer(ms: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (left: number): void => {
    const part = Math.min(left, maxTimerMs);
    timer = setTimeout(() => (left > part ? arm(left - part) : fire()), part);
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/**
 * Sleeps `ms`, or less if `signal` aborts. Resolves true after the full sleep and false when
 * cut short: loops read it as "go on?" and never see an AbortError.
 */
export async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    // In parts of at most a timer's longest (a longer timer would fire after 1 ms).
    for (let left = ms; ; left -= maxTimerMs) {
      await delay(Math.min(left, maxTimerMs), undefined, { signal });
      if (!(left > maxTimerMs)) break;
    }
    return true;
  } catch (error) {
    if (signal.aborted) return false;
    throw error;
  }
}

/** Resolves when `signal` aborts (at once if it already has). Never rejects. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}

/*
 * The races below are the only hand-written ones in the core; every bounded or cancellable
 * wait goes through them. One rule for their timers: a timer is ref'd while the wait is open
 * and cleared the moment the race settles. Ref'd, because a timeout promises that the wait
 * ends: unref'd, a process whose last handle just closed would exit in the middle of the wait
 * without running the code after it. Cleared, so it never holds a process past the wait. And
 * an abort listener is removed when the race settles, so no signal collects them.
 */

/** What `withTimeout()` resolves with when the time ran out first. */
export const timedOut: unique symbol = Symbol('timed out');

/**
 * Waits for `work`, at most `timeoutMs`. Resolves with its value, or with `timedOut` when the
 * time runs out first (`work` goes on; its later rejection is swallowed); rejects with its
 * error when it rejects in time.
 */
export function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T | typeof timedOut> {
  let clear = (): void => undefined;
  const timeout = new Promise<typeof timedOut>((resolve) => {
    clear = armTimer(timeoutMs, () => resolve(timedOut));
  });
  // The race handles `work`: its rejection after the timeout is nobody's unhandled rejection.
  return Promise.race([work, timeout]).finally(() => clear());
}

/**
 * Waits for `work` unless `signal` aborts first: resolves or rejects as `work` does, or
 * rejects with the signal's reason (an AbortError when the reason is not an Error) as soon as
 * it aborts, at once when it already has. `work` goes on; its later rejection is swallowed.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, aborted]).finally(() => {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  });
}

/** The signal's reason as an Error (an AbortError DOMException when it is not one). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('the wait was aborted', 'AbortError');
}
