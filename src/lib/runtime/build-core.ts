import { createLogger, type Logger, type LogSink } from '../primitives/log.js';
import { ErrorReporters, type ProcessControl } from '../primitives/process-control.js';
import { handleError } from '../primitives/exception-scope.js';
import { ShutdownCoordinator } from '../lifecycle/shutdown-coordinator.js';
import { armSentinel } from '../lifecycle/sentinel.js';
import { Nanny } from '../threads/nanny.js';
import { SocketRegistry } from '../zmq/socket-registry.js';
import { HealthChecks } from '../health.js';
import { Policies } from '../resilience/policies.js';
import type { CoreConfig } from './core-config.js';
import { ExitPath } from './exit-path.js';
import { LogLevelSwitch } from './log-level.js';
import { MetricsRelay } from './metrics-relay.js';

/**
 * Builds the main thread's core objects, each from the ones before it (nothing starts here):
 * logger, log level, exit path, coordinator, process control, metrics, nanny, ZeroMQ
 * registry, health checks, policies. Registers the core's shutdown steps and health checks;
 * the app adds its own around them.
 */

export interface Core<C extends CoreConfig = CoreConfig> {
  readonly config: Readonly<C>;
  readonly log: Logger;
  readonly logSink: LogSink;
  readonly levels: LogLevelSwitch;
  readonly exits: ExitPath;
  readonly coordinator: ShutdownCoordinator;
  readonly reporters: ErrorReporters;
  readonly control: ProcessControl;
  readonly metrics: MetricsRelay;
  readonly nanny: Nanny;
  readonly zmq: SocketRegistry;
  readonly health: HealthChecks;
  readonly policies: Policies;
}

/** The main thread's ProcessControl: the coordinator's signal and die(), the reporters. */
function mainControl(coordinator: ShutdownCoordinator, reporters: ErrorReporters): ProcessControl {
  return {
    signal: coordinator.signal,
    die: (cause) => coordinator.die(cause),
    report: (error, context) => reporters.report(error, { thread: 'main', ...context }),
  };
}

export function buildCore<C extends CoreConfig>(config: Readonly<C>, logSink: LogSink): Core<C> {
  const log = createLogger({
    app: config.app.name,
    thread: 'main',
    version: config.app.version,
    level: config.log.level,
    destination: logSink,
  });
  const levels = new LogLevelSwitch(log, config.log.level);
  const exits = new ExitPath(logSink);
  const reporters = new ErrorReporters();
  const coordinator: ShutdownCoordinator = new ShutdownCoordinator({
    log,
    escalationMs: config.shutdown.escalationMs,
    deadlineMs: config.shutdown.deadlineMs,
    stepTimeoutMs: config.shutdown.stepTimeoutMs,
    onEscalate: () => levels.set('debug'),
    onBegin: () => {
      armSentinel('shutdown', {
        limitMs: config.shutdown.deadlineMs,
        logger: { app: config.app.name, thread: 'deadline-sentinel', version: config.app.version },
        log,
      });
    },
    exit: (code) => exits.exit(code),
    // A step that fails is judged like any error while stopping: noise, or a failure. (The
    // coordinator's own callback: it runs once the coordinator exists.)
    onStepFailed: (error, step) =>
      handleError(error, {
        name: `shutdown step ${step.name}`,
        log,
        control: mainControl(coordinator, reporters),
      }),
  });
  const control = mainControl(coordinator, reporters);
  const metrics = new MetricsRelay();
  const nanny = new Nanny({
    log,
    logSink,
    logLevel: () => levels.level,
    config,
    heartbeatMs: config.threads.heartbeatMs,
    startTimeoutMs: config.threads.startTimeoutMs,
    reportIntervalMs: config.threads.reportIntervalMs,
    maxSemiSpaceMb: config.threads.maxSemiSpaceMb,
    mainStallLimitMs: config.threads.mainStallLimitMs,
    signal: control.signal,
    isStopRequested: () => coordinator.isShuttingDown && coordinator.cause === undefined,
    die: (cause) => control.die(cause),
    report: (error, context) => control.report(error, context),
    metrics,
  });
  exits.endThreadsWith((timeoutMs) => nanny.endAll(timeoutMs), log);
  levels.onChange((level) => nanny.setLogLevel(level));
  const zmq = new SocketRegistry({ log, lingerMs: config.zmq.lingerMs });
  const health = new HealthChecks();
  const policies = new Policies({ config: config.policies, log, control, metrics });
  metrics.onScrape((m) => policies.recordStates(m));

  health.addLiveness('threads', () => {
    const report = nanny.report();
    // Threads stopped by a requested stop are not missing; after a failure they are.
    const stopping = coordinator.isShuttingDown && coordinator.cause === undefined;
    return {
      ok: report.missing.length === 0 || stopping,
      detail: { alive: report.alive, missing: report.missing },
    };
  });
  health.addReadiness('running', () => ({
    ok: !coordinator.isShuttingDown,
    detail: coordinator.state,
  }));
  addStopWorkersStep(coordinator, nanny, config.shutdown.stepTimeoutMs);
  coordinator.addStep({ name: 'close zmq sockets', phase: 'close', run: () => zmq.closeAll() });
  // Synchronous (nothing is buffered): a short bound, all the flush phase keeps for it.
  coordinator.addStep({
    name: 'flush logs',
    phase: 'flush',
    timeoutMs: 100,
    run: () => logSink.flushSync(),
  });
  coordinator.addOpenResourceReporter('zmqSockets', () => zmq.describeOpen());
  coordinator.addOpenResourceReporter('workers', () => nanny.describeOpen());

  return {
    config,
    log,
    logSink,
    levels,
    exits,
    coordinator,
    reporters,
    control,
    metrics,
    nanny,
    zmq,
    health,
    policies,
  };
}

/**
 * The step that stops the worker threads: each gets the step timeout in turn (its shutdown
 * message, then `terminate()`), so the step's own timeout is theirs together, read when it
 * runs (the app declares its workers after this). With the step timeout alone, one worker that
 * had to be terminated used the whole step: the shutdown went on to close and flush, and
 * resolved its exit code, while the other workers had not been asked to stop.
 */
export function addStopWorkersStep(
  coordinator: ShutdownCoordinator,
  nanny: Nanny,
  perWorkerMs: number,
): void {
  coordinator.addStep({
    name: 'stop worker threads',
    phase: 'stop-workers',
    get timeoutMs() {
      return nanny.stopAllTimeoutMs(perWorkerMs);
    },
    run: (signal) => nanny.stopAll(perWorkerMs, signal),
  });
}
