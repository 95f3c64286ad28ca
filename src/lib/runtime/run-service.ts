import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { loadConfig, type EnvMap } from '../primitives/config.js';
import type { CoreConfig } from './core-config.js';
import {
  createLogSink,
  createLogger,
  redactUrlCredentials,
  setLogLevel,
  type Logger,
  type LogLevel,
  type LogSink,
} from '../primitives/log.js';
import { hasCode, ErrorCodes } from '../primitives/errors.js';
import { serializeError } from '../primitives/error-serialization.js';
import { Nanny } from '../threads/nanny.js';
import { HealthChecks } from '../health.js';
import type { Metrics } from '../telemetry/metrics.js';
import { startObservability, type Observability } from './observability.js';
import { Scheduler } from '../schedule.js';
import { SocketRegistry } from '../zmq/socket-registry.js';
import { Policies } from '../resilience/policies.js';
import { ExitCode } from '../primitives/exit-codes.js';
import { ErrorReporters, type ProcessControl } from '../primitives/process-control.js';
import { handleError, runInScope } from '../primitives/exception-scope.js';
import { ShutdownCoordinator } from '../lifecycle/shutdown-coordinator.js';
import { installSignalHandlers } from '../lifecycle/signals.js';
import { armMainFault, parseFaults } from '../lifecycle/faults.js';

/**
 * Builds the per-process runtime that every component is wired to, runs the app's set-up
 * in the exception scope, logs `ready`, and waits for the shutdown to set the exit code.
 * Only this file and the signal handler end the process; a clean run just sets
 * `process.exitCode` and lets the event loop empty.
 */

export interface ServiceRuntime<C extends CoreConfig = CoreConfig> extends ProcessControl {
  readonly config: Readonly<C>;
  readonly log: Logger;
  readonly logSink: LogSink;
  readonly coordinator: ShutdownCoordinator;
  readonly nanny: Nanny;
  readonly zmq: SocketRegistry;
  readonly reporters: ErrorReporters;
  readonly health: HealthChecks;
  /** InfluxDB when `INFLUX_URL` is set, else a no-op. Tag with `thread` from workers' data. */
  metrics: Metrics;
  /** The resilience policy of each outbound dependency, from the `policies` config. */
  readonly policies: Policies;
  /** Scheduled jobs: declare them in setUp; they start once the service is ready. */
  readonly scheduler: Scheduler;
  /** Sets the log level in every thread. */
  setLogLevel(level: LogLevel): void;
}

export interface RunServiceOptions<S extends z.ZodType<CoreConfig>> {
  schema: S;
  env: EnvMap;
  defaultsFile: URL;
  /**
   * Wires and starts the app. Resolves when it is ready, with extra fields for the `ready`
   * line. Register shutdown steps before starting what they stop.
   */
  setUp: (runtime: ServiceRuntime<z.infer<S>>) => Promise<Record<string, unknown> | void>;
}

/** The commit the build was made from (dist/build-info.json, written by setup.sh), if known. */
function buildCommit(): string | undefined {
  try {
    const file = new URL('../../../build-info.json', import.meta.url);
    const info = JSON.parse(readFileSync(file, 'utf8')) as { commit?: unknown };
    return typeof info.commit === 'string' && info.commit !== 'unknown' ? info.commit : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the service until it stops; resolves with the exit code (also set on process). */
export async function runService<S extends z.ZodType<CoreConfig>>(
  options: RunServiceOptions<S>,
): Promise<number> {
  let config: Readonly<z.infer<S>>;
  try {
    config = loadConfig({
      schema: options.schema,
      env: options.env,
      defaultsFile: options.defaultsFile,
      source: { APP_VERSION: buildCommit(), ...process.env },
    });
  } catch (error) {
    // No logger yet: one JSON line on stderr, redacted like every other.
    const exitCode = hasCode(error, ErrorCodes.CONFIG)
      ? ExitCode.CONFIG_ERROR
      : ExitCode.APPLICATION_ERROR;
    const line = JSON.stringify({
      level: 'fatal',
      time: new Date().toISOString(),
      pid: process.pid,
      thread: 'main',
      msg: 'configuration error',
      exitCode,
      err: serializeError(error),
    });
    // A person reads the first part; a log pipeline, the JSON line.
    process.stderr.write(redactUrlCredentials(`${serializeError(error).message}\n${line}\n`));
    process.exitCode = exitCode;
    return exitCode;
  }

  const logSink = await createLogSink(config.log.pretty);
  const log = createLogger({
    app: config.app.name,
    thread: 'main',
    version: config.app.version,
    level: config.log.level,
    destination: logSink,
  });
  let level: LogLevel = config.log.level;
  const setLevel = (next: LogLevel): void => {
    level = next;
    setLogLevel(log, next);
    nanny.setLogLevel(next);
    log.info({ level: next }, 'log level changed');
  };
  const coordinator = new ShutdownCoordinator({
    log,
    escalationMs: config.shutdown.escalationMs,
    deadlineMs: config.shutdown.deadlineMs,
    stepTimeoutMs: config.shutdown.stepTimeoutMs,
    onEscalate: () => setLevel('debug'),
    exit: (code) => exitAfterFlush(code),
    // A step that fails is judged like any error while stopping: noise, or a failure.
    onStepFailed: (error, step) =>
      handleError(error, { name: `shutdown step ${step.name}`, log, control }),
  });
  // Exits that skip the shutdown steps (deadline, second signal) still flush error reports,
  // bounded; a further call does not wait again.
  const beforeExit: { flush?: () => Promise<void> } = {};
  let exiting = false;
  const exitAfterFlush = (code: number): void => {
    logSink.flushSync();
    if (exiting || beforeExit.flush === undefined) process.exit(code);
    exiting = true;
    void beforeExit.flush().finally(() => process.exit(code));
  };
  const reporters = new ErrorReporters();
  const control: ProcessControl = {
    signal: coordinator.signal,
    die: (cause) => coordinator.die(cause),
    report: (error, context) => reporters.report(error, { thread: 'main', ...context }),
  };
  const nanny = new Nanny({
    log,
    logSink,
    logLevel: () => level,
    config,
    heartbeatMs: config.threads.heartbeatMs,
    startTimeoutMs: config.threads.startTimeoutMs,
    reportIntervalMs: config.threads.reportIntervalMs,
    maxSemiSpaceMb: config.threads.maxSemiSpaceMb,
    signal: coordinator.signal,
    die: (cause) => coordinator.die(cause),
    metrics: () => runtime.metrics,
  });
  const zmq = new SocketRegistry({ log, lingerMs: config.zmq.lingerMs });
  const health = new HealthChecks();
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

  const onUncaught = (error: unknown): void => {
    handleError(error, { name: 'main (uncaught)', log, control });
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);

  // Core steps; the app adds its own around them.
  coordinator.addStep({
    name: 'stop worker threads',
    phase: 'stop-workers',
    run: () => nanny.stopAll(config.shutdown.stepTimeoutMs),
  });
  coordinator.addStep({ name: 'close zmq sockets', phase: 'close', run: () => zmq.closeAll() });
  coordinator.addStep({ name: 'flush logs', phase: 'flush', run: () => logSink.flushSync() });
  coordinator.addOpenResourceReporter('zmqSockets', () => zmq.describeOpen());
  coordinator.addOpenResourceReporter('workers', () => nanny.describeOpen());

  // After the core steps: a stop that came while the modules loaded is replayed here.
  installSignalHandlers({
    coordinator,
    log,
    toggleDebug: () =>
      setLevel(
        level === 'debug' ? (config.log.level === 'debug' ? 'info' : config.log.level) : 'debug',
      ),
    flush: () => logSink.flushSync(),
    exit: (code) => exitAfterFlush(code),
  });

  // Start-up runs while a stop may come at any moment (TERM, die()): it checks before each
  // stage, and the coordinator waits for it to settle before the steps run, so whatever it
  // started is stopped and nothing starts after the shutdown began.
  let runtime!: ServiceRuntime<z.infer<S>>;
  const startUp = async (): Promise<void> => {
    if (coordinator.isShuttingDown) return;
    let telemetry: Observability;
    try {
      telemetry = await startObservability({ config, log, coordinator, nanny, reporters, health });
    } catch (error) {
      handleError(error, { name: 'telemetry', log, control });
      return;
    }
    beforeExit.flush = () => telemetry.flushBeforeExit();
    const scheduler = new Scheduler({
      log,
      control,
      metrics: () => runtime.metrics,
      monitor: telemetry.jobMonitor,
    });
    coordinator.addStep({
      name: 'stop scheduled jobs',
      phase: 'stop-intake',
      run: () => scheduler.stop(config.shutdown.stepTimeoutMs),
    });

    runtime = {
      ...control,
      // Reads runtime.metrics at each call: an integration may replace it after this point.
      policies: new Policies({
        config: config.policies,
        log,
        control,
        metrics: {
          count: (...args) => runtime.metrics.count(...args),
          gauge: (...args) => runtime.metrics.gauge(...args),
          timing: (...args) => runtime.metrics.timing(...args),
        },
      }),
      config,
      log,
      logSink,
      coordinator,
      nanny,
      zmq,
      reporters,
      health,
      metrics: telemetry.metrics,
      scheduler,
      setLogLevel: setLevel,
    };
    runtime.metrics.onScrape?.((m) => runtime.policies.recordStates(m));
    log.info(
      {
        environment: config.app.environment,
        node: process.version,
        fault: config.fault || undefined,
        flags: config.flags,
      },
      'starting',
    );
    if (coordinator.isShuttingDown) return;
    const fields = await options.setUp(runtime);
    if (coordinator.isShuttingDown) return;
    scheduler.start();
    telemetry.started();
    log.info(
      {
        workers: nanny.names,
        jobs: scheduler.names.length > 0 ? scheduler.names : undefined,
        healthPort: telemetry.healthServer?.address?.port,
        ...fields,
      },
      'ready',
    );
    for (const fault of parseFaults(config.fault)) armMainFault(fault, coordinator.signal);
  };
  // A service runs until it is stopped, even one whose set-up left nothing else alive (from
  // then on the coordinator keeps the process alive until its steps decide).
  const running = setInterval(() => undefined, 2 ** 31 - 1);
  void coordinator.done.finally(() => clearInterval(running));
  const started = runInScope(startUp, { name: 'startup', log, control });
  coordinator.holdStepsFor(started);
  // A start-up that never settles (past the coordinator's wait for it) does not hold the exit.
  await Promise.race([started, coordinator.done]);
  // The uncaught handlers stay: anything thrown while the loop empties is logged, not fatal.
  const exitCode = await coordinator.done;
  process.exitCode = exitCode;
  return exitCode;
}
