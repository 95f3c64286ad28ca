import { handleError } from '../primitives/exception-scope.js';
import {
  armMainFault,
  injectStartupFault,
  parseFaults,
  shutdownFaultStep,
} from '../lifecycle/faults.js';
import { Scheduler } from '../schedule.js';
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
    run: () => scheduler.stop(config.shutdown.stepTimeoutMs),
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
  const fields = await setUp(ctx);
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
  for (const fault of faults) armMainFault(fault, coordinator.signal);
}
