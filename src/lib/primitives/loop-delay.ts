import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/**
 * How late this thread's event loop runs: the vital each worker thread sends with its heartbeat,
 * what the main thread's liveness check reads, and the thread's `nodejs_eventloop_lag_*`
 * figures in Prometheus.
 *
 * A timer due every `loopDelayProbeMs` records how late it ran; `take()` gives the longest
 * lateness since the last `take()`. A block of the loop reads as its length less up to
 * `loopDelayProbeMs` (a block of 300 ms: 200 to 300), whenever it fell: no block of
 * `loopDelayProbeMs` or more is missed, a shorter one is seen when the timer fell due in it.
 *
 * Not Node's `monitorEventLoopDelay`, which the service used before (prom-client's default too):
 * at its usual resolution of 10 ms it woke every thread 100 times a second, and an idle sample
 * (main and three workers) spent 865-913 ms of CPU a minute, against 542-592 with this probe
 * (`npm run bench -- --only idle`, quiet machine; a probe due every 50 ms, woken by a JS timer,
 * which costs more than Node's own, still spent 808-840). Its `reset()` also drops the next
 * interval, so a block just before or after a heartbeat's reading was lost, and none was seen
 * with a heartbeat shorter than its resolution; and it records the whole interval between its
 * runs, so an idle loop read as 10-14 ms late.
 */
export const loopDelayProbeMs = 100;

export interface LoopDelayProbe {
  /** The longest lateness (ms, rounded) since the last take; starts a new window. */
  take(): number;
  /**
   * Every lateness from now on (ns, at least 1), for a reader with windows of its own (the
   * Prometheus scrape, which resets it). The same histogram on every call.
   */
  samples(): RecordableHistogram;
  /**
   * Calls `listener` with every lateness from now on (ms, not rounded), for a reader that keeps
   * its own cumulative figures (the Prometheus histogram, the same whoever scrapes).
   */
  onSample(listener: (lateMs: number) => void): void;
  /** Stops the timer. Idempotent. */
  stop(): void;
}

/** Starts the probe; its timer never holds the thread open. */
export function startLoopDelayProbe(everyMs = loopDelayProbeMs): LoopDelayProbe {
  let due = performance.now() + everyMs;
  let longest = 0;
  let histogram: RecordableHistogram | undefined;
  const listeners: Array<(lateMs: number) => void> = [];
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - due;
    longest = Math.max(longest, late);
    histogram?.record(Math.max(1, Math.round(late * 1e6)));
    for (const listener of listeners) listener(Math.max(0, late));
    due = now + everyMs;
  }, everyMs);
  timer.unref();
  return {
    take() {
      // A run still overdue (a block just ended, the timer has not run yet) counts in this
      // window, and only what comes after it in the next.
      const now = performance.now();
      const seen = Math.max(longest, now - due);
      due = Math.max(due, now);
      longest = 0;
      return Math.max(0, Math.round(seen));
    },
    samples: () => (histogram ??= createHistogram()),
    onSample: (listener) => {
      listeners.push(listener);
    },
    stop: () => clearInterval(timer),
  };
}
