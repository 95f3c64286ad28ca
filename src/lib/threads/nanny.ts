import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Logger, LogLevel, LogSink } from '../primitives/log.js';
import {
  ErrorCodes,
  WorkerFailureError,
  causeChain,
  fieldOf,
  hasCode,
} from '../primitives/errors.js';
import { WorkerHost, terminateWaitMs, type WorkerSpec, type WorkerState } from './worker-host.js';
import type { ThreadChannel } from './thread-channel.js';
import type { ThreadVitals } from './protocol.js';
import type { Metrics } from '../telemetry/metrics.js';
import { MainPulse } from './main-watchdog.js';
import { withTimeout } from '../primitives/waits.js';
import type { ErrorReporter } from '../primitives/process-control.js';

/**
 * Starts the declared worker threads and watches them. A thread that exits while the service
 * is running is noticed at once (the 'exit' event); one whose event loop is blocked, within
 * two heartbeat intervals of the main thread being responsive (no beat for 1.5 intervals,
 * checked every quarter interval). Either calls `die()` with a cause naming the worker.
 * A worker's silence is counted in time the main thread was awake to hear it: a main-thread
 * stall (a long GC, a big parse, a blocked write) queues the workers' heartbeats unread, and
 * is logged as what it is, never taken for a hung worker. It also reports thread counts and missing
 * threads every report interval, to the log and to its report listeners (cronitor, metrics).
 */

export interface ThreadReport {
  /** Worker threads declared. */
  expected: number;
  /** Worker threads running now. */
  alive: number;
  /** Names of declared workers that are not running (and not `stopped`). */
  missing: string[];
  /**
   * Names of declared workers that a requested stop has stopped (or is stopping): not missing,
   * in the log, the metrics or cronitor (a clean stop whose drain outlasted a report interval
   * warned 'thread report' with the sample's producer missing, every interval).
   */
  stopped?: string[];
  /** Vitals of each running worker, by name. */
  vitals: Record<string, ThreadVitals>;
}

export interface NannyOptions {
  log: Logger;
  logSink: LogSink;
  logLevel: () => LogLevel;
  config: unknown;
  heartbeatMs: number;
  startTimeoutMs: number;
  reportIntervalMs: number;
  /** Each worker's semi-space cap in MiB (WorkerHostOptions.maxSemiSpaceMb); 0: V8's default. */
  maxSemiSpaceMb?: number;
  /**
   * The shutdown signal. A worker's death still counts after it aborts, and so does a hang of
   * a worker still running: the hang check runs until the worker is asked to stop, in
   * `stopAll()` too (a worker that hangs during the drain, its work lost, made the requested
   * stop exit 0).
   */
  signal: AbortSignal;
  /**
   * Whether the stop under way was asked for (a signal, `stop()`), not caused by a failure:
   * then a worker asked to stop is `stopped` in the reports, not missing. Never true before a
   * stop. Without it, every worker not running is missing.
   */
  isStopRequested?: () => boolean;
  die: (cause: unknown) => void;
  /** Where an error that escaped a worker's own scope is reported (WorkerHostOptions.escaped). */
  report?: ErrorReporter;
  /**
   * How long the main thread may be silent before a worker's watchdog kills the process
   * (main-watchdog.ts); 0: no watch.
   */
  mainStallLimitMs?: number;
  /** Where the workers' metrics go (tagged with the worker's name as `thread`). */
  metrics?: Metrics;
}

export class Nanny {
  readonly #options: NannyOptions;
  readonly #log: Logger;
  readonly #specs: WorkerSpec[] = [];
  readonly #hosts = new Map<string, WorkerHost>();
  readonly #reportListeners: Array<(report: ThreadReport) => void> = [];
  #hangCheck: NodeJS.Timeout | undefined;
  /** performance.now() of the last hang check, to tell a late check (main stalled). */
  #lastCheckAt = 0;
  /** Per worker: the last beat seen, and the awake main-thread time since then. */
  readonly #silence = new Map<WorkerHost, { beatAt: number; awakeMs: number }>();
  #reportTimer: NodeJS.Timeout | undefined;
  /** Moved by main while the process runs; every worker watches it. */
  readonly #pulse = new MainPulse();

  constructor(options: NannyOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'nanny' });
    // Every worker learns at once that the process stops, before any is stopped (the app may
    // stop one in 'stop-intake', as the sample does its producer).
    options.signal.addEventListener('abort', () => this.#announceStopping(), { once: true });
  }

  /** Tells every worker the process stops: a linked peer stopped before it is no failure. */
  #announceStopping(): void {
    for (const host of this.#hosts.values()) host.send({ t: 'stopping' });
  }

  /** Declares a worker. Workers start together and stop in reverse declaration order. */
  add(spec: WorkerSpec): this {
    if (spec.name.trim() === '' || spec.name === 'main') {
      // Its logs, metrics and reports carry thread=<name>: main's would be mixed with them.
      throw new Error(
        `a worker cannot be named ${JSON.stringify(spec.name)}: ${spec.name === 'main' ? "'main' is the main thread's name in logs and metrics" : 'give it a name'}`,
      );
    }
    if (this.#specs.some((s) => s.name === spec.name)) {
      throw new Error(`a worker named ${spec.name} is already declared`);
    }
    this.#specs.push(spec);
    return this;
  }

  get names(): string[] {
    return this.#specs.map((s) => s.name);
  }

  /**
   * Whether worker threads keep the main thread's watchdog: some were started, with
   * `mainStallLimitMs` set. Without them start-up arms a stall sentinel instead.
   */
  get watchesMain(): boolean {
    return this.#hosts.size > 0 && (this.#options.mainStallLimitMs ?? 0) > 0;
  }

  /** The application channel to a running worker. */
  channel(name: string): ThreadChannel {
    const host = this.#hosts.get(name);
    if (host === undefined) throw new Error(`no worker named ${name}`);
    return host.channel;
  }

  /**
   * Starts every declared worker, all at once (each thread boots its own V8 isolate and Node,
   * ~60 ms of mostly native work, and those boots overlap), and resolves when all are ready.
   * Settles only once every worker has settled, running or ended, so that nothing is still
   * starting when it does. Rejects with the first start failure (it names the worker), or
   * with the shutdown signal's reason once it aborts, so that start-up goes no further (the
   * workers that started are left to `stopAll()`).
   */
  async start(): Promise<void> {
    const ports = this.#linkPorts();
    this.#options.signal.throwIfAborted();
    if ((this.#options.mainStallLimitMs ?? 0) > 0) this.#pulse.start();
    const failures: Array<{ onRequest: boolean; error: unknown }> = [];
    await Promise.all(
      this.#specs.map((spec) => {
        const host = this.#host(spec);
        return host.start(ports.get(spec.name) ?? {}).catch((error: unknown) => {
          // Read now: whether its end was the one main asked for (stopAll asks them all).
          failures.push({ onRequest: host.endedOnRequest, error });
        });
      }),
    );
    // A worker stopped while it started (the coordinator waits for start-up a step timeout at
    // most, then stops what runs) ended "during start": that is the stop, not a start failure.
    const failed = failures.find(({ onRequest }) => !onRequest);
    if (failed !== undefined) throw failed.error;
    this.#options.signal.throwIfAborted();
    if (failures[0] !== undefined) throw failures[0].error;
    this.#lastCheckAt = performance.now();
    // Judged from setImmediate: after the poll phase, which reads the heartbeats queued while
    // the main thread was busy. A timer alone can run before them (its phase comes first).
    this.#hangCheck = setInterval(
      () => setImmediate(() => this.#checkHeartbeats()),
      this.#checkEveryMs,
    );
    this.#hangCheck.unref();
    this.#reportTimer = setInterval(() => this.#emitReport(), this.#options.reportIntervalMs);
    this.#reportTimer.unref();
  }

  /** Makes the host of a declared worker and listens to it. */
  #host(spec: WorkerSpec): WorkerHost {
    const host = new WorkerHost({
      spec,
      config: this.#options.config,
      log: this.#options.log,
      logSink: this.#options.logSink,
      logLevel: this.#options.logLevel(),
      heartbeatMs: this.#options.heartbeatMs,
      startTimeoutMs: this.#options.startTimeoutMs,
      maxSemiSpaceMb: this.#options.maxSemiSpaceMb ?? 0,
      mainWatch: { pulse: this.#pulse.shared, limitMs: this.#options.mainStallLimitMs ?? 0 },
      ...(this.#options.report && {
        escaped: { report: this.#options.report, signal: this.#options.signal },
      }),
    });
    this.#hosts.set(spec.name, host);
    host.on('exit', (code, expected) => {
      if (!expected) this.#onEnded(host, `exit code ${code}`);
    });
    host.on('lost', () => this.#onEnded(host, 'its channel closed'));
    host.on('die', (error) => this.#onDie(host, error));
    host.on('metric', (m) => {
      this.#options.metrics?.[m.kind](m.name, m.value, { ...m.tags, thread: host.name });
    });
    return host;
  }

  /** Stops one worker (shutdown message, then terminate after `timeoutMs`). */
  async stopWorker(name: string, timeoutMs: number): Promise<void> {
    await this.#hosts.get(name)?.stop(timeoutMs);
  }

  /**
   * The longest `stopAll(timeoutMs)` takes: each worker's time in turn, and a second for the
   * terminations. What a step that runs it must give it.
   */
  stopAllTimeoutMs(timeoutMs: number): number {
    return timeoutMs * Math.max(1, this.#hosts.size) + terminateWaitMs;
  }

  /**
   * Stops every worker, in reverse declaration order, each within `timeoutMs`. Idempotent. When
   * `signal` aborts first (the shutdown's step cut to fit the deadline), the workers not yet
   * stopped are terminated at once, together: waiting their turn, they ran past the deadline.
   */
  async stopAll(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    // The hang check goes on for the workers still waiting their turn (it skips one asked to
    // stop): turned off here, a worker that hung at the TERM, or while the one before it
    // stopped, was terminated at its turn's timeout as a slow stop, and the stop exited 0.
    clearInterval(this.#reportTimer);
    this.#announceStopping(); // again for a caller whose signal has not aborted (idempotent)
    const hosts = [...this.#hosts.values()].reverse();
    const terminateAll = (): void => {
      for (const host of hosts)
        void withTimeout(
          host.terminate().catch(() => undefined),
          terminateWaitMs,
        );
    };
    if (signal?.aborted === true) terminateAll();
    signal?.addEventListener('abort', terminateAll, { once: true });
    try {
      for (const host of hosts) {
        if (signal?.aborted === true) return;
        await host.stop(timeoutMs);
      }
    } finally {
      this.#stopTimers();
      signal?.removeEventListener('abort', terminateAll);
    }
  }

  /** Names of the worker threads made and not ended (after `stopAll()`: those stuck). */
  get openThreads(): string[] {
    return this.#openHosts().map((h) => h.name);
  }

  #openHosts(): WorkerHost[] {
    return [...this.#hosts.values()].filter(
      (h) => h.threadId !== undefined && h.state !== 'exited',
    );
  }

  /**
   * Terminates every worker thread that has not ended and waits for them, at most `timeoutMs`;
   * resolves with the names of those still not ended: threads blocked in a system call, which
   * `terminate()` cannot reach (it stops JavaScript) and which Node would wait for at exit.
   */
  async endAll(timeoutMs: number): Promise<string[]> {
    // A thread that was made and has not ended (a worker declared but never started has none).
    const open = this.#openHosts();
    if (open.length === 0) return [];
    await withTimeout(Promise.allSettled(open.map((h) => h.terminate())), timeoutMs);
    return open.filter((h) => h.state !== 'exited').map((h) => h.name);
  }

  /** Sets the log level of every worker thread. */
  setLogLevel(level: LogLevel): void {
    for (const host of this.#hosts.values()) host.send({ t: 'log-level', level });
  }

  report(): ThreadReport {
    const vitals: Record<string, ThreadVitals> = {};
    const missing: string[] = [];
    const stopped: string[] = [];
    const requested = this.#options.isStopRequested?.() === true;
    for (const spec of this.#specs) {
      const host = this.#hosts.get(spec.name);
      if (host?.state === 'running') vitals[spec.name] = host.vitals;
      else if (requested && host !== undefined && isAskedToStop(host)) stopped.push(spec.name);
      else missing.push(spec.name);
    }
    const alive = Object.keys(vitals).length;
    return { expected: this.#specs.length, alive, missing, stopped, vitals };
  }

  /** Runtime-metric snapshots of the running workers; a silent one is left out. */
  async metricsSnapshots(timeoutMs: number): Promise<unknown[][]> {
    const hosts = [...this.#hosts.values()];
    const all = await Promise.all(hosts.map((h) => h.metricsSnapshot(timeoutMs)));
    return all.filter((s) => s !== undefined);
  }

  /** Adds a listener for the periodic thread report. */
  onReport(listener: (report: ThreadReport) => void): void {
    this.#reportListeners.push(listener);
  }

  /** Workers whose threads have not ended, for the escalation listing. */
  describeOpen(): Array<{ name: string; state: string; threadId: number | undefined }> {
    return [...this.#hosts.values()]
      .filter((h) => h.state !== 'exited')
      .map((h) => ({ name: h.name, state: h.state, threadId: h.threadId }));
  }

  /** One MessageChannel per declared link; both workers get their end. */
  #linkPorts(): Map<string, Record<string, MessagePort>> {
    const ports = new Map<string, Record<string, MessagePort>>();
    const portsOf = (name: string): Record<string, MessagePort> => {
      let p = ports.get(name);
      if (p === undefined) ports.set(name, (p = {}));
      return p;
    };
    for (const spec of this.#specs) {
      for (const other of spec.links ?? []) {
        if (!this.#specs.some((s) => s.name === other)) {
          throw new Error(`worker ${spec.name} links to ${other}, which is not declared`);
        }
        if (portsOf(spec.name)[other] !== undefined) continue;
        const { port1, port2 } = new MessageChannel();
        portsOf(spec.name)[other] = port1;
        portsOf(other)[spec.name] = port2;
      }
    }
    return ports;
  }

  /**
   * A worker ended unasked: by its exit, or first by its channel closing. During shutdown too:
   * a worker is asked to stop by its own step, so an end before that is a failure.
   */
  #onEnded(host: WorkerHost, how: string): void {
    this.#options.die(
      new WorkerFailureError(
        ErrorCodes.WORKER_DIED,
        host.name,
        `worker ${host.name} ended unexpectedly (${how})`,
      ),
    );
  }

  /**
   * The worker's scope decided its error ends the process (during shutdown as well). An error
   * met on a linked peer's closed channel while that peer still runs, as main sees it, waits
   * for the peer's end to reach main (at most `peerEndWaitMs`): the peer's death and this
   * worker's failed request come on different ports, in either order, and the first cause
   * wins, so the worker that asked was blamed (70) for the one that died (71) about one time in
   * ten (measured with a worker asking a peer every 5 ms as the peer's thread ended).
   */
  #onDie(host: WorkerHost, error: Error): void {
    Object.assign(error, { worker: host.name });
    const peer = this.#hosts.get(closedPeerOf(error, host.name) ?? '');
    if (peer === undefined || (peer.state !== 'starting' && peer.state !== 'running')) {
      this.#options.die(error);
      return;
    }
    let recorded = false;
    const record = (): void => {
      if (recorded) return;
      recorded = true;
      peer.off('state', onPeer);
      host.off('state', onSelf);
      clearTimeout(timer);
      this.#options.die(error);
    };
    // The peer's end: its own die() runs in the same emit as its state change, so after it.
    const onPeer = (state: WorkerState): void => {
      if (state === 'ending' || state === 'exited') queueMicrotask(record);
    };
    // This worker's own end first (its body returned on this error, or it closed that channel
    // itself): its error, not the bare end it leads to.
    const onSelf = (state: WorkerState): void => {
      if (state !== 'running') record();
    };
    peer.on('state', onPeer);
    host.on('state', onSelf);
    const timer = setTimeout(record, peerEndWaitMs);
    timer.unref();
  }

  get #checkEveryMs(): number {
    return Math.max(5, this.#options.heartbeatMs / 4);
  }

  /**
   * Runs every quarter heartbeat, after the poll phase. A check that comes much later than
   * that means the main thread was stalled: it is logged, and counts as one interval of a
   * worker's silence, not the stall's length (the worker could not be heard meanwhile). A
   * worker is hung when it was silent for 1.5 heartbeats of awake main-thread time: within
   * two heartbeats of the main thread being responsive, and even while it stalls often. Through
   * the shutdown's first phases too, for the workers not yet asked to stop.
   */
  #checkHeartbeats(): void {
    const now = performance.now();
    const sinceLastCheck = now - this.#lastCheckAt;
    this.#lastCheckAt = now;
    const stalled = sinceLastCheck > 2 * this.#checkEveryMs;
    if (stalled) this.#onMainStall(sinceLastCheck);
    const awake = stalled ? this.#checkEveryMs : sinceLastCheck;
    const limit = this.#options.heartbeatMs * 1.5;
    for (const host of this.#hosts.values()) {
      if (host.state !== 'running') continue;
      const silence = this.#silence.get(host);
      if (silence === undefined || silence.beatAt !== host.lastBeatAt) {
        // A beat (or 'ready') since the last check: silent only since it was read.
        const awakeMs = Math.min(now - host.lastBeatAt, awake);
        this.#silence.set(host, { beatAt: host.lastBeatAt, awakeMs });
        continue;
      }
      silence.awakeMs += awake;
      if (silence.awakeMs <= limit) continue;
      this.#stopTimers();
      const wallMs = Math.round(now - host.lastBeatAt);
      const silentMs = Math.round(silence.awakeMs);
      const stallNote = wallMs - silentMs > this.#checkEveryMs ? `, ${wallMs} ms wall clock` : '';
      this.#options.die(
        new WorkerFailureError(
          ErrorCodes.WORKER_HUNG,
          host.name,
          `worker ${host.name} is hung: no heartbeat for ${silentMs} ms${stallNote} (heartbeat ${this.#options.heartbeatMs} ms)`,
        ),
      );
      // A blocked loop never reads the shutdown message: end the thread now.
      void host.terminate();
      return;
    }
  }

  /** The main thread's own loop was blocked: say so, it is not the workers' silence. */
  #onMainStall(sinceLastCheck: number): void {
    const stalledMs = Math.round(sinceLastCheck - this.#checkEveryMs);
    const level = stalledMs >= this.#options.heartbeatMs ? 'warn' : 'debug';
    this.#log[level]({ stalledMs, heartbeatMs: this.#options.heartbeatMs }, 'main thread stalled');
  }

  #emitReport(): void {
    const report = this.report();
    const { expected, alive, missing, stopped } = report;
    this.#log[missing.length === 0 ? 'info' : 'warn'](
      { expected, alive, missing, ...(stopped !== undefined && stopped.length > 0 && { stopped }) },
      'thread report',
    );
    for (const listener of this.#reportListeners) {
      try {
        listener(report);
      } catch (error) {
        this.#log.warn({ err: error }, 'thread report listener failed');
      }
    }
  }

  #stopTimers(): void {
    clearInterval(this.#hangCheck);
    clearInterval(this.#reportTimer);
  }
}

/** How long a worker's failure on a linked peer's closed channel waits for the peer's end. */
const peerEndWaitMs = 1_000;

/**
 * The linked peer whose closed channel `error`, or an error it was caused by, met: thread
 * channels name themselves `<worker><-><peer>` (run-worker.ts) and say so when closed.
 */
function closedPeerOf(error: unknown, worker: string): string | undefined {
  const prefix = `thread channel ${worker}<->`;
  for (const current of causeChain(error)) {
    const message = fieldOf(current, 'message');
    if (
      hasCode(current, ErrorCodes.THREAD_CHANNEL_CLOSED) &&
      typeof message === 'string' &&
      message.startsWith(prefix) &&
      message.endsWith(' is closed')
    ) {
      return message.slice(prefix.length, -' is closed'.length);
    }
  }
  return undefined;
}

/** A worker main asked to stop (`stop()`, `terminate()`): ending, or ended as asked. */
function isAskedToStop(host: WorkerHost): boolean {
  return host.state === 'stopping' || (host.state === 'exited' && host.endedOnRequest);
}
