import { isMainThread, workerData, type MessagePort } from 'node:worker_threads';
import { setLogLevel, type Logger } from '../primitives/logger.js';
import { createLineLogger } from '../primitives/line-logger.js';
import { serializeError } from '../primitives/error-serialization.js';
import { ErrorReporters, type ProcessControl } from '../primitives/process-control.js';
import { handleError, runInScope } from '../primitives/exception-scope.js';
import {
  armWorkerFault,
  messageFaults,
  parseFaults,
  strikeOnRequest,
} from '../lifecycle/faults.js';
import type { TelemetryConfig } from '../telemetry/telemetry-config.js';
import type { ControlFromWorker, ControlToWorker, WorkerInit } from './protocol.js';
import {
  ThreadChannel,
  type ChannelContract,
  type ChannelPort,
  type RequestHandler,
} from './thread-channel.js';
import { checkMetric, noopMetrics, type Metrics } from '../telemetry/metrics.js';
import { adoptSecrets } from '../primitives/secrets.js';
import { isMetricsOn, isPrometheusOn, isTracingOn } from '../telemetry/switches.js';
import { watchMain } from './main-watchdog.js';
import { startLoopDelayProbe } from '../primitives/loop-delay.js';
import { untilAborted } from '../primitives/waits.js';
import { stopReason } from '../primitives/errors.js';

/**
 * The worker-thread side of the core. A `*.worker.ts` module calls `runWorker(body)`; the
 * runtime builds the context (config, logger, shutdown signal, channels), sends heartbeats
 * from this thread's event loop, routes uncaught errors through the exception scope, forwards
 * `die()` to the main thread, and lets the thread end when the body returns. Worker threads
 * never call process.exit.
 */

/** What the worker runtime reads of the service's config; every core config has it. */
export interface WorkerConfig {
  readonly app: { readonly name: string; readonly version: string; readonly environment: string };
  readonly telemetry: TelemetryConfig;
  readonly fault: string;
}

export interface WorkerContext<C extends WorkerConfig = WorkerConfig> extends ProcessControl {
  readonly name: string;
  readonly config: C;
  readonly log: Logger;
  /** Channel to the main thread; `main.serve()` handles what main sends. */
  readonly main: ThreadChannel;
  /** Channels to linked peer workers, by peer name. */
  readonly peers: ReadonlyMap<string, ThreadChannel>;
  /**
   * Records metrics through the main thread's sink, tagged `thread` = this worker's name. A
   * no-op when metrics are off. Never waits; throws only for a name that breaks the naming
   * convention (`checkMetric()`), metrics on or off.
   */
  readonly metrics: Metrics;
  /** Adds an error reporter for this thread (the Sentry integration does). */
  addReporter: ErrorReporters['add'];
  /** Runs `fn` when the worker winds down, after the body returned (last added, first run). */
  onClose(fn: () => Promise<void> | void): void;
}

/** Typed access to a peer channel. */
export function peer<Out extends ChannelContract, In extends ChannelContract = ChannelContract>(
  ctx: WorkerContext,
  name: string,
): ThreadChannel<Out, In> {
  const channel = ctx.peers.get(name);
  if (channel === undefined) throw new Error(`worker ${ctx.name} has no link to ${name}`);
  return channel as unknown as ThreadChannel<Out, In>;
}

/**
 * How long a worker waits for the other end of a channel to acknowledge its closing; a worker
 * body that closes a channel itself (to take in every last message first) uses it too.
 */
export const channelCloseTimeoutMs = 2_000;

export function runWorker<C extends WorkerConfig>(
  body: (ctx: WorkerContext<C>) => Promise<void>,
): void {
  if (isMainThread) throw new Error('runWorker() must be called in a worker thread');
  const init = workerData as WorkerInit;
  // Before the first log line: this thread redacts what main's config marked secret.
  adoptSecrets(init.secrets);
  const config = init.config as C;
  const control: MessagePort = init.control;
  const send = (message: ControlFromWorker): void => control.postMessage(message);
  const logs = init.logs;
  const log = createLineLogger({
    app: config.app.name,
    thread: init.name,
    version: config.app.version,
    level: init.logLevel,
    destination: { write: (line: string) => logs.postMessage(line) },
  });
  const controller = new AbortController();
  const stopping = new AbortController();
  const reporters = new ErrorReporters();
  const closers: Array<() => Promise<void> | void> = [];
  /** This thread's Sentry and tracing: closed after the channels, the last to go. */
  const telemetryClosers: Array<() => Promise<void>> = [];
  const processControl: ProcessControl = {
    signal: controller.signal,
    stopping: AbortSignal.any([controller.signal, stopping.signal]),
    die: (cause) => send({ t: 'die', error: serializeError(cause) }),
    report: (error, context) => reporters.report(error, { thread: init.name, ...context }),
  };

  // This thread's runtime figures for Prometheus, loaded below when it is on.
  let runtimeMetrics: { snapshot(): Promise<unknown[]> } | undefined;
  control.on('message', (message: ControlToWorker) => {
    switch (message.t) {
      case 'shutdown':
        log.debug({ reason: message.reason }, 'shutdown received');
        controller.abort(stopReason(`shutdown: ${message.reason}`));
        return;
      case 'stopping':
        stopping.abort();
        return;
      case 'log-level':
        setLogLevel(log, message.level);
        return;
      case 'metrics-request':
        void (runtimeMetrics?.snapshot() ?? Promise.resolve([])).then(
          (metrics) => send({ t: 'metrics-snapshot', id: message.id, metrics }),
          (error: unknown) => log.debug({ err: error }, 'metrics snapshot failed'),
        );
    }
  });

  const onUncaught = (error: unknown): void => {
    handleError(error, { name: `${init.name} (uncaught)`, log, control: processControl });
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);

  const loopDelay = startLoopDelayProbe();
  const watchOverMain = watchMain({
    shared: init.mainPulse,
    limitMs: init.mainStallLimitMs,
    checkEveryMs: init.heartbeatMs,
    logger: { app: config.app.name, thread: init.name, version: config.app.version },
  });
  const beat = setInterval(() => {
    watchOverMain();
    send({
      t: 'beat',
      loopDelayMs: loopDelay.take(),
      heapUsedBytes: process.memoryUsage().heapUsed,
    });
  }, init.heartbeatMs);

  const faults = parseFaults(config.fault);
  const openChannel = channelOpener(faults, controller.signal);
  const main = openChannel(`${init.name}<->main`, init.main);
  const peers = new Map(
    Object.entries(init.peers).map(([name, port]) => [
      name,
      openChannel(`${init.name}<->${name}`, port),
    ]),
  );
  const metric =
    (kind: 'count' | 'gauge' | 'timing') =>
    (name: string, value = 1, tags?: Readonly<Record<string, string>>): void => {
      checkMetric(kind, name, tags); // a bad name fails here, in the worker's call, not in main
      send({ t: 'metric', kind, name, value, ...(tags && { tags }) });
    };
  const metrics: Metrics = !isMetricsOn(config.telemetry)
    ? noopMetrics
    : { count: metric('count'), gauge: metric('gauge'), timing: metric('timing') };
  const ctx: WorkerContext<C> = {
    ...processControl,
    name: init.name,
    config,
    log,
    metrics,
    main,
    peers,
    addReporter: (reporter) => reporters.add(reporter),
    onClose: (fn) => closers.push(fn),
  };

  const finish = async (): Promise<void> => {
    const close = (closer: () => unknown): Promise<unknown> =>
      // A closer that fails is a failure while stopping: logged, reported, die() (the exit
      // code says the stop did not go cleanly); the other closers still run.
      runInScope(closer, { name: `${init.name} close`, log, control: processControl });
    for (const closer of closers.reverse()) await close(closer);
    // Requests already on their way are answered before the channels close.
    await Promise.all(
      [main, ...peers.values()].map((c) => c.closeGracefully(channelCloseTimeoutMs)),
    );
    // Telemetry last (tracing, then Sentry): the spans and errors of those answers go out too.
    for (const closer of telemetryClosers.reverse()) await close(closer);
    clearInterval(beat);
    loopDelay.stop();
    send({ t: 'finished', shuttingDown: controller.signal.aborted });
    control.close();
    logs.close();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  };

  void (async () => {
    // This thread's own Sentry client, loaded only when on: errors are reported where they
    // are raised, and flushed (bounded) after everything else.
    const sentryConfig = config.telemetry.sentry;
    if (sentryConfig.dsn !== '') {
      try {
        const { startSentry } = await import('../telemetry/sentry.js');
        const sentry = startSentry({
          ...sentryConfig,
          app: config.app.name,
          thread: init.name,
          release: config.app.version,
          environment: config.app.environment,
          log,
        });
        reporters.add(sentry.report);
        telemetryClosers.push(() => sentry.close());
      } catch (error) {
        log.warn({ err: error }, 'sentry did not start in this thread; errors are logged only');
      }
    }
    if (isTracingOn(config.telemetry)) {
      const { startTracing } = await import('../telemetry/tracing.js');
      const tracing = startTracing({
        tracing: config.telemetry.tracing,
        app: config.app.name,
        version: config.app.version,
        environment: config.app.environment,
        thread: init.name,
        log,
      });
      telemetryClosers.push(() => tracing.close());
    }
    if (isPrometheusOn(config.telemetry)) {
      const { ThreadRuntimeMetrics } = await import('../telemetry/prometheus.js');
      const thread = new ThreadRuntimeMetrics(init.name, loopDelay);
      thread.start();
      runtimeMetrics = thread;
    }
    send({ t: 'ready' });
    for (const fault of faults) armWorkerFault(fault, init.name, controller.signal);
    await runInScope(() => body(ctx), { name: init.name, log, control: processControl });
    // A body that ended once the process was stopping (a linked peer gone first, its error the
    // shutdown's noise) waits for its own turn: an end before it would read as a death.
    if (stopping.signal.aborted) await untilAborted(controller.signal);
    await finish();
  })();
}

/**
 * Opens this thread's channels. With a `crash-on` or `hang-on` fault set, every request the
 * worker serves (while it is not shutting down) first meets the fault drill; without one, the
 * plain channel, at no cost.
 */
function channelOpener(
  faults: ReturnType<typeof parseFaults>,
  signal: AbortSignal,
): (name: string, port: ChannelPort) => ThreadChannel {
  const armed = messageFaults(faults);
  if (armed.length === 0) return (name, port) => new ThreadChannel(name, port);
  class StrikingChannel extends ThreadChannel {
    override serve(handler: RequestHandler<ChannelContract>): void {
      super.serve((request) => {
        if (!signal.aborted) strikeOnRequest(armed, request);
        return handler(request);
      });
    }
  }
  return (name, port) => new StrikingChannel(name, port);
}
