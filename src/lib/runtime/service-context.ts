import type { z } from 'zod';
import type { EnvMap } from '../primitives/config.js';
import type { Logger, LogLevel, LogSink } from '../primitives/log.js';
import type { ErrorReporters, ProcessControl } from '../primitives/process-control.js';
import type { ShutdownCoordinator } from '../lifecycle/shutdown-coordinator.js';
import type { Nanny } from '../threads/nanny.js';
import type { SocketRegistry } from '../zmq/socket-registry.js';
import type { HealthChecks } from '../health.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Policies } from '../resilience/policies.js';
import type { Scheduler } from '../schedule.js';
import type { CoreConfig } from './core-config.js';

/**
 * What the app's `setUp` receives: the process's core objects, built once by the runtime.
 * Each area takes only the few of them it uses (`{ log, signal, config }`, a metrics sink);
 * the whole context is for the composition root.
 */
export interface ServiceContext<C extends CoreConfig = CoreConfig> extends ProcessControl {
  readonly config: Readonly<C>;
  readonly log: Logger;
  readonly logSink: LogSink;
  readonly coordinator: ShutdownCoordinator;
  readonly nanny: Nanny;
  readonly zmq: SocketRegistry;
  readonly reporters: ErrorReporters;
  readonly health: HealthChecks;
  /**
   * The metrics sink (InfluxDB, Prometheus, both or none). Tag with `thread` from workers'
   * data. The same object for the whole run: it forwards to what the `telemetry` config
   * started.
   */
  readonly metrics: Metrics;
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
  setUp: (ctx: ServiceContext<z.infer<S>>) => Promise<Record<string, unknown> | void>;
}
