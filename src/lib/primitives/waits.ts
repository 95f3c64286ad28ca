import { setTimeout as delay } from 'node:timers/promises';

/**
 * Sleeps `ms`, or less if `signal` aborts. Resolves true after the full sleep and false when
 * cut short: loops read it as "go on?" and never see an AbortError.
 */
export async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
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
