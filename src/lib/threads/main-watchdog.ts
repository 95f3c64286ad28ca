import { isDebuggerOpen } from '../primitives/inspector.js';
import { createLineLogger } from '../primitives/line-logger.js';
import type { LoggerOptions } from '../primitives/log.js';
import { FdSink } from '../primitives/fd-sink.js';

/**
 * The main thread's watchdog, kept by the worker threads. A stall of the main thread is only
 * logged by the nanny (a long GC, a big parse, a slow write end by themselves), but a main
 * thread that never wakes again (an endless loop, a catastrophic regular expression on hostile
 * input, a native call that never returns) can decide nothing: no signal handler, no shutdown
 * step and no shutdown deadline runs in it. Left alone the process would look alive, its pid
 * there and its workers running, and do nothing for ever; a TERM would not stop it.
 *
 * So the main thread moves a counter in shared memory every quarter second (`MainPulse`), and
 * each worker thread reads it with its own heartbeat (`MainWatch`). When the counter has not
 * moved for `MAIN_STALL_LIMIT_MS` of the worker's own time, the first worker to see it (one
 * only: a flag in the same memory) writes one fatal line straight to stdout, since main writes
 * every other line and cannot, and kills the process with SIGKILL, the one signal that needs
 * no JavaScript in main. The supervisor sees a process killed by a signal and restarts it.
 * A service without worker threads has no watchdog.
 */

/**
 * Slots of the shared array: the pulse counter, the flag of a watchdog that fired, and whether
 * a debugger is attached to main (a breakpoint stops it; that is no stall).
 */
const COUNTER = 0;
const FIRED = 1;
const DEBUGGING = 2;

/** How often main moves the counter. */
const pulseEveryMs = 250;

/**
 * Main's side: the counter, moved by an unref'd timer for as long as the process runs, and
 * with it whether a debugger is attached.
 */
export class MainPulse {
  /** What each worker gets in its init (a SharedArrayBuffer is shared, not copied). */
  readonly shared = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  readonly #isDebugging: () => boolean;
  #timer: NodeJS.Timeout | undefined;

  constructor(isDebugging: () => boolean = isDebuggerOpen) {
    this.#isDebugging = isDebugging;
  }

  /** Starts the pulse. Idempotent. */
  start(): void {
    if (this.#timer !== undefined) return;
    const beat = (): void => {
      Atomics.store(this.shared, DEBUGGING, this.#isDebugging() ? 1 : 0);
      Atomics.add(this.shared, COUNTER, 1);
    };
    beat();
    this.#timer = setInterval(beat, pulseEveryMs);
    this.#timer.unref();
  }

  /** Stops it (tests; in a service it runs until the process ends). Idempotent. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * A worker's side: reads the counter at each of its heartbeats. Main's silence is counted in
 * time this worker was awake to see it, as the nanny counts a worker's: a check that comes
 * much later than its interval means the whole process was stopped (SIGSTOP, `docker pause`,
 * a frozen VM), main included, and counts as one interval, not the gap; so a process resumed
 * after a long pause is not killed before main has had a turn to pulse.
 */
export class MainWatch {
  readonly #shared: Int32Array;
  readonly #limitMs: number;
  readonly #checkEveryMs: number;
  #seen: number;
  #lastCheckAt: number;
  /** Awake time since the counter last moved. */
  #silentMs = 0;

  /** `limitMs` 0: never fires. `checkEveryMs`: how often `check()` is called. */
  constructor(shared: Int32Array, limitMs: number, checkEveryMs: number, now = performance.now()) {
    this.#shared = shared;
    this.#limitMs = limitMs;
    this.#checkEveryMs = checkEveryMs;
    this.#seen = Atomics.load(shared, COUNTER);
    this.#lastCheckAt = now;
  }

  /**
   * What this watch should do now: `'write-and-kill'` the first time main has been silent
   * past the limit in this process (this watch owns the fatal line); `'kill'` past twice the
   * limit when another watch owned it (its write may be stuck on the same blocked stdout as
   * main); otherwise undefined. `silentMs` says for how long.
   */
  check(
    now = performance.now(),
  ): { action: 'write-and-kill' | 'kill'; silentMs: number } | undefined {
    const sinceLastCheck = now - this.#lastCheckAt;
    this.#lastCheckAt = now;
    if (this.#limitMs === 0 || Atomics.load(this.#shared, DEBUGGING) === 1) return undefined;
    const counter = Atomics.load(this.#shared, COUNTER);
    if (counter !== this.#seen) {
      this.#seen = counter;
      this.#silentMs = 0;
      return undefined;
    }
    // Late by more than an interval: this thread was stopped too; count one interval.
    const late = sinceLastCheck > 2 * this.#checkEveryMs;
    this.#silentMs += late ? this.#checkEveryMs : sinceLastCheck;
    const silentMs = Math.round(this.#silentMs);
    if (silentMs < this.#limitMs) return undefined;
    if (Atomics.compareExchange(this.#shared, FIRED, 0, 1) === 0) {
      return { action: 'write-and-kill', silentMs };
    }
    return silentMs >= 2 * this.#limitMs ? { action: 'kill', silentMs } : undefined;
  }
}

export interface WatchMainOptions {
  shared: Int32Array;
  /** 0: off. */
  limitMs: number;
  /** How often the returned check is called (the worker's heartbeat). */
  checkEveryMs: number;
  /** Who writes the fatal line (its `destination` is stdout, written directly). */
  logger: Omit<LoggerOptions, 'destination' | 'level'>;
}

/** A worker's watch over main: the returned check runs with each of its heartbeats. */
export function watchMain(options: WatchMainOptions): () => void {
  const watch = new MainWatch(options.shared, options.limitMs, options.checkEveryMs);
  return () => {
    const verdict = watch.check();
    if (verdict === undefined) return;
    if (verdict.action === 'write-and-kill') {
      const log = createLineLogger({
        ...options.logger,
        level: 'fatal',
        destination: new FdSink(1),
      });
      log.fatal(
        { silentMs: verdict.silentMs, limitMs: options.limitMs, signal: 'SIGKILL' },
        'main thread stalled past MAIN_STALL_LIMIT_MS; killing the process',
      );
    }
    process.kill(process.pid, 'SIGKILL');
  };
}
