import type { Logger } from '../primitives/log.js';
import type { ProcessControl } from '../primitives/process-control.js';
import type { ShutdownCoordinator } from '../lifecycle/shutdown-coordinator.js';
import type { HealthChecks } from '../health.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { AmqpConfig } from './amqp-config.js';

/**
 * What the AMQP integration takes from the service it joins: its config section and app name,
 * the logger, the shutdown signal and die(), where to register shutdown steps, readiness and
 * metrics. The app's ServiceContext fits it.
 */
export interface AmqpHost extends ProcessControl {
  readonly config: {
    readonly app: { readonly name: string };
    readonly amqp: AmqpConfig;
    /** The drain step's handlers get the step timeout; its hand-backs more (consumer.ts). */
    readonly shutdown: { readonly stepTimeoutMs: number };
  };
  readonly log: Logger;
  readonly coordinator: Pick<ShutdownCoordinator, 'addStep' | 'addOpenResourceReporter' | 'cause'>;
  readonly health: Pick<HealthChecks, 'addReadiness'>;
  readonly metrics: Metrics;
}
