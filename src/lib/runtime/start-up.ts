import { handleError } from '../primitives/exception-scope.js';
import {
  armMainFault,
  injectStartupFault,
  parseFaults,
  shutdownFaultStep,
  stallStartup,
  startupHang,
} from '../lifecycle/faults.js';
import { armSentinel, armStallSentinel } from '../lifecycle/sentinel.js';
import { ErrorCodes, WorkerBaseError } from '../primitives/errors.js';
import { Scheduler } from '../schedule.js';
import type { Logger } from '../primitives/logger.js';
import type { Core } from './build-core.js';
import type { CoreConfig } from './core-config.js';
import { startObservability, type Observability } from './observability.js';
import type { ServiceContext } from './service-context.js';

/**
 * Start-up, in the exception scope: observability (the metrics relay attached to its sinks),
 * the scheduler, the `starting` line, the start-up fault drill, the app's `setUp`, then jobs,
 * readiness and `ready`. A stop may come at any moment (TERM, die()): it checks before each
 * stage, and the coordinator waits for it to settle before the steps run, so whatever it
 * started is stopped and nothing starts after the shutdown began.
 */
export async function startUp<C extends CoreConfig>(
  core: Core<C>,
  setUp: (ctx: ServiceContext<C>) => Promise<Record<string, unknown> | void>,
): Promise<void> {
  const { config, log, coordinator, control, nanny } = core;
  if (coordinator.isShuttingDown) return;
  let telemetry: Observability;
  try {
    telemetry = await startObservability(core);
  } catch (error) {
    handleError(error, { name: 'telemetry', log, control });
    return;
  }
  core.exits.flushWith(() => telemetry.flushBeforeExit());
  core.metrics.attach(telemetry.metrics);
  const scheduler = new Scheduler({
    log,
    control,
    metrics: core.metrics,
    monitor: telemetry.jobMonitor,
  });
  coordinator.addStep({
    name: 'stop scheduled jobs',
    phase: 'stop-intake',
    // The step's signal, cut to the deadline when the coordinator cuts the step.
    run: (signal) => scheduler.stop(signal),
  });
  const ctx: ServiceContext<C> = {
    ...control,
    config,
    log,
    logSink: core.logSink,
    coordinator,
    nanny,
    zmq: core.zmq,
    reporters: core.reporters,
    health: core.health,
    metrics: core.metrics,
    policies: core.policies,
    scheduler,
    setLogLevel: (level) => core.levels.set(level),
  };
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
  const faults = parseFaults(config.fault);
  // The drills `dependency:startup` and `error:startup`: a set-up that fails before its first
  // step, whatever the app is.
  for (const fault of faults) injectStartupFault(fault, 'startup-dependency');
  for (const step of faults.map(shutdownFaultStep)) if (step) coordinator.addStep(step);
  for (const hang of faults.map(startupHang)) if (hang) await hang;
  for (const fault of faults) stallStartup(fault);
  const fields = await setUp(ctx);
  if (coordinator.isShuttingDown) return;
  scheduler.start();
  telemetry.started();
  // Before the line: once `ready` is logged, READY_FILE holds the pid.
  markReady(config.startup.readyFile, log);
  log.info(
    {
      workers: nanny.names,
      jobs: scheduler.names.length > 0 ? scheduler.names : undefined,
      healthPort: telemetry.healthServer?.address?.port,
      ...fields,
    },
    'ready',
  );
  watchMainAlone(core);
  for (const fault of faults) armMainFault(fault, coordinator.signal, log);
}

/**
 * Writes this process's pid to READY_FILE, if set: supervisord's listener (docker/
 * fatal-listener.py) reads it at an exit to tell a run that never got ready (a start-up that
 * hangs or fails slowly, restarted for ever past startsecs) from one that worked, then died.
 * A write that fails is said: the listener would count this run as one that never got ready.
 */
function markReady(file: string, log: Pick<Logger, 'warn'>): void {
  if (file === '') return;
  const { openSync, fstatSync, ftruncateSync, writeSync, closeSync, constants } =
    process.getBuiltinModule('node:fs');
  let fd: number | undefined;
  try {
    // A regular file only, opened without waiting: a FIFO there blocked the main thread in
    // its open for good, right after `ready` (killed as a stall, 137, READY_FILE named nowhere;
    // with MAIN_STALL_LIMIT_MS=0 and no worker thread, a hang for ever). Not through a link,
    // which the listener refuses (it said never ready while this said ready).
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NONBLOCK;
    fd = openSync(file, flags | constants.O_NOFOLLOW, 0o644);
    if (!fstatSync(fd).isFile()) throw new Error(`${file} is not a regular file`);
    ftruncateSync(fd);
    writeSync(fd, `${process.pid}\n`);
  } catch (error) {
    log.warn(
      { err: error, file },
      'READY_FILE cannot be written: a restart loop would count this run as never ready',
    );
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A service with no worker threads has nobody to watch its main thread (threads/
 * main-watchdog.ts): from `ready` until a shutdown begins (which arms its own sentinel) a
 * stall sentinel (lifecycle/sentinel.ts) does, over the same MAIN_STALL_LIMIT_MS.
 */
function watchMainAlone(core: Pick<Core, 'config' | 'log' | 'coordinator' | 'nanny'>): void {
  const { config, log, coordinator, nanny } = core;
  const limitMs = config.threads.mainStallLimitMs;
  if (limitMs === 0 || nanny.watchesMain || coordinator.isShuttingDown) return;
  const sentinel = armStallSentinel({
    limitMs,
    logger: { app: config.app.name, thread: 'stall-sentinel', version: config.app.version },
    log,
  });
  coordinator.signal.addEventListener('abort', () => sentinel?.disarm(), { once: true });
}

/**
 * Runs start-up (`run`), bounded: `timeoutMs` after it began (0: never), a start-up that has
 * not settled, nor been overtaken by a shutdown, is a failure (`E_STARTUP_TIMEOUT`, an
 * application error: 70, reported). A set-up step awaiting what never comes (a connection
 * with no timeout, a lock never released) otherwise leaves a process that is never ready and
 * never ends, which its supervisor, seeing it run, never restarts. What start-up holds is
 * then stopped by the shutdown, which waits for it no longer than a step's timeout.
 *
 * That bound is a timer of the main thread: a step stuck in synchronous work runs none. So a
 * sentinel (lifecycle/sentinel.ts) kills the process a grace past the timeout, unless start-up
 * settled or a shutdown (which arms a sentinel of its own) began first.
 */
export function limitStartUp<T>(
  core: Pick<Core, 'config' | 'log' | 'control' | 'coordinator'>,
  timeoutMs: number,
  run: () => Promise<T>,
): Promise<T> {
  if (timeoutMs === 0) return run();
  const { config, log, control, coordinator } = core;
  const sentinel = armSentinel('startup', {
    limitMs: timeoutMs,
    logger: { app: config.app.name, thread: 'startup-sentinel', version: config.app.version },
    log,
  });
  const timer = setTimeout(() => {
    if (coordinator.isShuttingDown) return;
    const error = new WorkerBaseError(
      ErrorCodes.STARTUP_TIMEOUT,
      `start-up did not reach ready within STARTUP_TIMEOUT_MS (${String(timeoutMs)} ms)`,
    );
    handleError(error, { name: 'startup', log, control });
  }, timeoutMs);
  // The service's own keep-alive holds the process meanwhile; this timer never does.
  timer.unref();
  const clear = (): void => {
    clearTimeout(timer);
    sentinel?.disarm();
  };
  coordinator.signal.addEventListener('abort', clear, { once: true });
  // Both are armed before it runs: a step stuck in synchronous work from its first line on
  // would hold main before anything after this call.
  const started = run();
  void started.then(clear, clear);
  return started;
}
