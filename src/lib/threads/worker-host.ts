import { EventEmitter, once } from 'node:events';
import { MessageChannel, Worker, type MessagePort, type WorkerOptions } from 'node:worker_threads';
import { writeText, type Logger, type LogLevel, type LogSink } from '../primitives/log.js';
import { ErrorCodes, WorkerFailureError } from '../primitives/errors.js';
import { deserializeError } from '../primitives/error-serialization.js';
import type {
  ControlFromWorker,
  ControlToWorker,
  MetricMessage,
  ThreadVitals,
  WorkerInit,
} from './protocol.js';
import { ThreadChannel } from './thread-channel.js';
import { knownSecrets } from '../primitives/secrets.js';
import { redactedOutput } from '../primitives/console-output.js';
import { timedOut, withTimeout } from '../primitives/waits.js';
import { MainPulse } from './main-watchdog.js';
import { writeStderr } from '../primitives/fd-sink.js';
import { handleError } from '../primitives/exception-scope.js';
import type { ErrorReporter } from '../primitives/process-control.js';

/**
 * The main-thread side of one named worker thread: starts it, forwards its log lines to the
 * main sink, keeps its heartbeat and vitals, and stops it (shutdown message, then terminate
 * after a timeout). Events: 'exit' (code, expected), 'die' (error the worker reported),
 * 'metric' (a metric the worker recorded).
 */

/** Declares a worker: a name and the module that calls `runWorker()`. */
export interface WorkerSpec {
  name: string;
  module: URL;
  /** Peer workers this one gets a channel to (both ends see the link). */
  links?: readonly string[];
}

/**
 * How long a stop waits for a thread it terminated to end: one blocked in a system call never
 * does. The stop-workers step allows a second for the terminations (`Nanny.stopAllTimeoutMs`).
 */
export const terminateWaitMs = 1000;

/** A worker's state. */
export type WorkerState =
  /** Declared, not started. */
  | 'idle'
  /** Thread created; waiting for its 'ready'. */
  | 'starting'
  /** Ready and beating. */
  | 'running'
  /** Asked to shut down; waiting for the thread to end. */
  | 'stopping'
  /** Its channel closed while it should be running: the thread is ending unasked. */
  | 'ending'
  /** The thread has ended. */
  | 'exited';

export interface WorkerHostOptions {
  spec: WorkerSpec;
  config: unknown;
  log: Logger;
  logSink: LogSink;
  logLevel: LogLevel;
  heartbeatMs: number;
  startTimeoutMs: number;
  /**
   * The thread's semi-space cap in MiB, as `--max-semi-space-size` sets it for the main
   * thread; 0 leaves V8's default. Given to the isolate as `resourceLimits`
   * (`maxYoungGenerationSizeMb`, three semi-spaces). A `--max-semi-space-size` flag on the
   * process, when there is one, applies to every isolate and takes precedence.
   */
  maxSemiSpaceMb?: number;
  /** Main's pulse for the worker's watchdog (main-watchdog.ts); without it, no watch. */
  mainWatch?: { pulse: Int32Array; limitMs: number };
  /**
   * Where an error that escaped the worker's own scope (its module threw as it loaded) is
   * reported, and the shutdown's signal that tells such an error from a stop's noise: main's
   * exception scope handles it, since the worker's never saw it. Without them, only logged.
   */
  escaped?: { report: ErrorReporter; signal: AbortSignal };
}

export class WorkerHost extends EventEmitter<{
  exit: [code: number, expected: boolean];
  /** The worker's end of its channel closed while it should be running: it is ending. */
  lost: [];
  die: [error: Error];
  state: [state: WorkerState];
  metric: [metric: MetricMessage];
}> {
  readonly name: string;
  readonly #options: WorkerHostOptions;
  readonly #log: Logger;
  #worker: Worker | undefined;
  /** Main ended it (`terminate()`): its exit code (1) says nothing of the worker's own. */
  #terminated = false;
  /** Whether its thread's end was the one main asked for (see `endedOnRequest`). */
  #exitExpected = false;
  /** Terminated by its start timeout (expected as an end, but no stop asked for it). */
  #startTimedOut = false;
  /** The first error the worker was said to end of (its own die(), or one that escaped it). */
  #endCause: Error | undefined;
  #control: MessagePort | undefined;
  #channel: ThreadChannel | undefined;
  #state: WorkerState = 'idle';
  #lastBeatAt = 0;
  #vitals: ThreadVitals = { loopDelayMs: 0, heapUsedBytes: 0 };
  #exitCode: number | undefined;
  #exited: Promise<void> | undefined;
  /** Every port's 'close', which comes after the last message the worker sent on it. */
  #portsClosed: Promise<unknown> | undefined;
  #stopping: Promise<void> | undefined;
  readonly #snapshotWaiters = new Map<number, (metrics: unknown[]) => void>();
  #nextSnapshot = 1;

  constructor(options: WorkerHostOptions) {
    super();
    this.name = options.spec.name;
    this.#options = options;
    this.#log = options.log.child({ component: 'worker-host', worker: options.spec.name });
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** performance.now() of the last heartbeat (or of 'ready'). */
  get lastBeatAt(): number {
    return this.#lastBeatAt;
  }

  get vitals(): ThreadVitals {
    return this.#vitals;
  }

  get threadId(): number | undefined {
    return this.#worker?.threadId;
  }

  /** The application channel to this worker. Available after start(). */
  get channel(): ThreadChannel {
    if (this.#channel === undefined) throw new Error(`worker ${this.name} is not started`);
    return this.#channel;
  }

  /**
   * Starts the thread and resolves when it reports 'ready'. Rejects with a WorkerFailureError
   * if it exits or fails first, or is not ready within the start timeout.
   */
  async start(peers: Record<string, MessagePort>): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`worker ${this.name} already started`);
    const control = new MessageChannel();
    const logs = new MessageChannel();
    const app = new MessageChannel();
    this.#control = control.port1;
    // The first sign of a worker's end can be its channel closing, before the 'exit' event.
    // This listener runs before the channel's own, which fails the requests still pending:
    // so the cause recorded is the worker's end, not one of those failed requests.
    app.port1.once('close', () => {
      if (this.#state === 'starting' || this.#state === 'running') {
        this.#setState('ending');
        this.emit('lost');
      }
    });
    this.#channel = new ThreadChannel(`main<->${this.name}`, app.port1);
    const init: WorkerInit = {
      name: this.name,
      config: this.#options.config,
      logLevel: this.#options.logLevel,
      heartbeatMs: this.#options.heartbeatMs,
      mainPulse: this.#options.mainWatch?.pulse ?? new MainPulse().shared,
      mainStallLimitMs: this.#options.mainWatch?.limitMs ?? 0,
      secrets: knownSecrets(),
      control: control.port2,
      logs: logs.port2,
      main: app.port2,
      peers,
    };
    // Log lines arrive as ready-made JSON; write them as they come, in order.
    logs.port1.on('message', (line: string) => this.#options.logSink.write(line));
    // A port's 'close' comes after every message the worker sent on it, even when the
    // thread ended abruptly: waiting for all three means nothing it sent is lost.
    this.#portsClosed = Promise.all(
      [control.port1, logs.port1, app.port1].map((port) => once(port, 'close')),
    );
    this.#control.on('message', (message: ControlFromWorker) => this.#onControl(message));
    let worker: Worker;
    try {
      worker = new Worker(this.#options.spec.module, {
        name: this.name,
        workerData: init,
        transferList: [control.port2, logs.port2, app.port2, ...Object.values(peers)],
        // Not piped into process.stdout and process.stderr (Node's default): making those
        // turns a pipe's descriptor non-blocking for the whole process (below).
        stdout: true,
        stderr: true,
        ...youngGeneration(this.#options.maxSemiSpaceMb ?? 0),
      });
    } catch (error) {
      // No thread was made (a bad module URL, bad options): close the ports opened for it,
      // which would otherwise keep the event loop alive, and leave the host as never started.
      for (const port of [control, logs, app]) {
        port.port1.close();
        port.port2.close();
      }
      throw new WorkerFailureError(
        ErrorCodes.WORKER_START,
        this.name,
        `worker ${this.name} could not be made: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#worker = worker;
    this.#forwardOutput(worker);
    this.#setState('starting');
    // Not events.once(): it rejects on the 'error' event that precedes the exit of a thread
    // that threw with no handler left, and the exit would then go unrecorded.
    this.#exited = new Promise<number>((resolve) => worker.once('exit', resolve)).then((code) =>
      this.#onExit(code),
    );
    worker.on('error', (error: Error) => this.#onEscaped(error));
    await this.#settled(this.#options.startTimeoutMs);
    const state = this.#state as WorkerState;
    if (state !== 'running') {
      // Ended by its start timeout, not by a stop: a TERM during that start made the failure
      // read as the stop's, and the service exited 0 with nothing said of the timeout.
      this.#startTimedOut = state === 'starting';
      const reason = this.#startTimedOut
        ? `did not report ready within ${this.#options.startTimeoutMs} ms`
        : `ended during start (exit code ${String(this.#exitCode ?? 'not yet known')})`;
      // What it ended of, when it said (its own error, or one that escaped it) is the cause:
      // that error went to die() and was reported once, and the start's failure is its
      // consequence (the exception scope ignores it as the shutdown's noise). Without the
      // cause, a module that threw as it loaded was reported as 'ended during start (exit
      // code 1)', with neither its message nor its stack.
      const cause = this.#startTimedOut ? undefined : this.#endCause;
      const failure = new WorkerFailureError(
        ErrorCodes.WORKER_START,
        this.name,
        `worker ${this.name} ${reason}`,
        cause === undefined ? {} : { cause },
      );
      // Bounded: a thread blocked in a system call in its start never ends, and the start's
      // failure waited for it until the whole start-up's timeout (70, the worker unnamed).
      await this.#terminateBounded();
      throw failure;
    }
  }

  /**
   * What the thread writes to its own stdout and stderr (a fork's `console.log`, Node's
   * warnings), written by main as it arrives: stdout through the log sink, in order with the
   * log lines, stderr straight to fd 2. Node's default pipes them into `process.stdout` and
   * `process.stderr`, and making those for a pipe sets O_NONBLOCK on fds 1 and 2, for every
   * thread and for whoever shares the pipe (measured: the first `new Worker()` turned fd 1 of
   * the service, a FIFO, from flags 02100001 to 02104001): the log sink's blocking write then
   * had to wait out EAGAIN 10 ms at a time, and what the thread wrote went through an
   * asynchronous stream that `process.exit()` could cut short. (Fd 2 is made non-blocking all
   * the same by Node's node:assert, which pino's sonic-boom loads: its colours read
   * `process.stderr.isTTY`. Where stderr shares stdout's pipe, as supervisord's
   * `redirect_stderr` makes it, that is fd 1 too; the sink waits out EAGAIN there.)
   */
  #forwardOutput(worker: Worker): void {
    worker.stdout.setEncoding('utf8');
    // Masked as log lines are: a fork's console.log of a secret went out whole.
    const logSink = this.#options.logSink;
    worker.stdout.on(
      'data',
      redactedOutput((text) => writeText(logSink, text)),
    );
    worker.stderr.setEncoding('utf8');
    worker.stderr.on('data', redactedOutput(writeStderr));
  }

  /** Resolves when the state leaves 'starting', or after `timeoutMs`. */
  async #settled(timeoutMs: number): Promise<void> {
    if (this.#state !== 'starting') return;
    let onState: ((state: WorkerState) => void) | undefined;
    const left = new Promise<void>((resolve) => {
      onState = (state) => {
        if (state !== 'starting') resolve();
      };
      this.on('state', onState);
    });
    await withTimeout(left, timeoutMs);
    if (onState) this.off('state', onState);
  }

  /** Sends a control message if the thread is still there. */
  send(message: ControlToWorker): void {
    if (this.#state === 'starting' || this.#state === 'running' || this.#state === 'stopping') {
      this.#control?.postMessage(message);
    }
  }

  /**
   * The worker's runtime metrics (Prometheus), or undefined when it is not running, has them
   * off, or does not answer within `timeoutMs`. Never rejects.
   */
  async metricsSnapshot(timeoutMs: number): Promise<unknown[] | undefined> {
    if (this.#state !== 'running') return undefined;
    const id = this.#nextSnapshot++;
    const answered = new Promise<unknown[] | undefined>((resolve) => {
      this.#snapshotWaiters.set(id, resolve);
      this.send({ t: 'metrics-request', id });
    });
    const answer = await withTimeout(answered, timeoutMs);
    this.#snapshotWaiters.delete(id);
    return answer === timedOut ? undefined : answer;
  }

  /**
   * Asks the worker to shut down and waits for its thread to end; terminates it after
   * `timeoutMs`. Idempotent: later calls share the first one's promise.
   */
  stop(timeoutMs: number, reason = 'shutdown'): Promise<void> {
    this.#stopping ??= this.#stop(timeoutMs, reason);
    return this.#stopping;
  }

  /**
   * Its thread ended as main asked (`stop()`, or terminated for not stopping in time), not on
   * its own: an end during its start is then that stop, no failure. Known once it exited.
   */
  get endedOnRequest(): boolean {
    return this.#exitExpected && !this.#startTimedOut;
  }

  async #stop(timeoutMs: number, reason: string): Promise<void> {
    if (this.#exited === undefined) return;
    if (this.#state === 'exited') {
      // It ended on its own (a death): the lines it wrote last may still be on their way, and
      // are often the ones that say why. Its ports close after them.
      if ((await withTimeout(this.#ended(), timeoutMs)) === timedOut) {
        this.#log.warn({ timeoutMs }, 'the ports of an ended worker did not close in time');
      }
      return;
    }
    this.send({ t: 'shutdown', reason });
    this.#setState('stopping');
    if ((await withTimeout(this.#ended(), timeoutMs)) === timedOut) {
      this.#log.warn({ timeoutMs }, 'worker did not stop in time; terminating');
      // Bounded: a thread blocked in a system call never ends (terminate() stops JavaScript),
      // and waiting for it held the stop of every worker after it; the exit deals with it.
      await this.#terminateBounded();
    }
  }

  /** `terminate()`, waited for `terminateWaitMs` at most: then the exit path deals with it. */
  async #terminateBounded(): Promise<void> {
    if ((await withTimeout(this.terminate(), terminateWaitMs)) === timedOut) {
      this.#log.error(
        { waitedMs: terminateWaitMs },
        'worker thread did not end when terminated (blocked outside JavaScript); going on without it',
      );
    }
  }

  /** The thread has exited and every log line it wrote has been written. */
  async #ended(): Promise<void> {
    await this.#exited;
    await this.#portsClosed;
  }

  /** Ends the thread now (works on a blocked event loop too). */
  async terminate(): Promise<void> {
    if (this.#worker === undefined || this.#state === 'exited') return;
    // Ended on purpose (a hung worker, a stop that timed out): its end is expected, not a
    // second failure to report.
    if (this.#state === 'starting' || this.#state === 'running') this.#setState('stopping');
    this.#terminated = true;
    await this.#worker.terminate();
    await this.#ended();
  }

  #setState(state: WorkerState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#log.debug({ state }, 'worker state');
    this.emit('state', state);
  }

  #onControl(message: ControlFromWorker): void {
    switch (message.t) {
      case 'ready':
        this.#lastBeatAt = performance.now();
        if (this.#state === 'starting') this.#setState('running');
        return;
      case 'beat':
        this.#lastBeatAt = performance.now();
        this.#vitals = { loopDelayMs: message.loopDelayMs, heapUsedBytes: message.heapUsedBytes };
        return;
      case 'die':
        this.#die(deserializeError(message.error)); // handled (logged, reported) by its scope
        return;
      case 'metric':
        this.emit('metric', message);
        return;
      case 'metrics-snapshot':
        this.#snapshotWaiters.get(message.id)?.(message.metrics);
        return;
      case 'finished':
        this.#log.debug({ shuttingDown: message.shuttingDown }, 'worker body finished');
        return;
    }
  }

  /**
   * An error that escaped the worker's own handlers (its module threw as it loaded, or an
   * error event the worker's scope never saw): the thread is ending with it. Main's scope
   * says what it is (an application error logged and reported, a dependency failure a
   * warning, noise of the stop ignored); it was logged only, and never reported.
   */
  #onEscaped(error: Error): void {
    const death = deathOf(this.name, error);
    const escaped = this.#options.escaped;
    if (escaped === undefined) {
      this.#log.error({ err: death }, 'worker thread error');
    } else {
      handleError(death, {
        name: this.name,
        log: this.#log,
        control: {
          signal: escaped.signal,
          die: () => undefined,
          // Tagged with the thread it came from, as the worker's own reports are.
          report: (e, context) => escaped.report(e, { ...context, thread: this.name }),
        },
        onError: 'swallow', // the death is the nanny's to record: below
      });
    }
    this.#die(death);
  }

  /** The worker is ending of `error`: remembered as its start's cause, told to the nanny. */
  #die(error: Error): void {
    this.#endCause ??= error;
    this.emit('die', error);
  }

  #onExit(code: number): void {
    // Asked to stop, a worker returns and its thread ends with 0, or main terminates it; any
    // other end while stopping (process.exit(3) in its own stop) is a death.
    const expected = this.#state === 'stopping' && (code === 0 || this.#terminated);
    this.#exitExpected = expected;
    this.#exitCode = code;
    this.#setState('exited');
    // The ports are not closed here: replies and log lines the worker sent just before it
    // ended may still be queued on them. Each closes when the worker's end does, after them.
    this.#log[expected ? 'info' : 'warn']({ exitCode: code, expected }, 'worker exited');
    this.emit('exit', code, expected);
  }
}

/**
 * A thread's error as its failure: Node's own report that the thread ran out of heap is a
 * death (71), as its closed channel says while it runs, not a bug thrown by its code (70),
 * which is what it read as once the thread was asked to stop (its channel no longer heard).
 */
function deathOf(name: string, error: Error): Error {
  if ((error as { code?: unknown }).code !== 'ERR_WORKER_OUT_OF_MEMORY') return error;
  return new WorkerFailureError(
    ErrorCodes.WORKER_DIED,
    name,
    `worker ${name} ran out of memory: ${error.message}`,
    { cause: error },
  );
}

/** V8 sizes the young generation as three semi-spaces (two halves and the large-object space). */
function youngGeneration(maxSemiSpaceMb: number): Pick<WorkerOptions, 'resourceLimits'> {
  return maxSemiSpaceMb > 0
    ? { resourceLimits: { maxYoungGenerationSizeMb: 3 * maxSemiSpaceMb } }
    : {};
}
