/**
 * The public API of worker-base: the one module an app's main-thread code imports (types
 * included). Everything else under `src/lib` is internal and may change between versions.
 * Two light doors sit beside it for code whose load time matters: `worker.ts` for worker
 * threads (re-exported here) and `entry.ts` for the entry module.
 */
export * from './worker.js';

// Running a service
export {
  runService,
  type RunServiceOptions,
  type ServiceRuntime as ServiceContext,
} from './runtime/run-service.js';
export { injectStartupFault } from './lifecycle/faults.js';

// Configuration
export {
  coreConfigSchema,
  coreEnv,
  logLevels,
  flag,
  integer,
  millis,
  notSecret,
  secret,
  upperSnake,
  type CoreConfig,
} from './runtime/core-config.js';
export type { EnvMap } from './primitives/config.js';
export {
  Flags,
  booleanFlag,
  variantFlag,
  flagEnv,
  flagsSchema,
  readFlags,
  type FlagValues,
} from './flags.js';
export { policyEnv, type PolicyConfig } from './resilience/policy-config.js';
export type { Policies, ResiliencePolicy } from './resilience/policies.js';

// Errors and logs
export { handleError, runInScope, type ScopeOptions } from './primitives/exception-scope.js';
export { createLogger, type LoggerOptions } from './primitives/log.js';

// The pieces a service is wired from
export {
  SocketRegistry,
  type ManagedSocket,
  type SocketType,
  type ZmqMessage,
} from './zmq/socket-registry.js';
export type { Nanny } from './threads/nanny.js';
export type { ShutdownCoordinator } from './lifecycle/shutdown-coordinator.js';
export type { HealthChecks } from './health.js';
export type { Scheduler } from './schedule.js';

// RabbitMQ: loaded only when started, so a service without a broker never loads amqplib.
export type { Delivery, MessageHandler } from './amqp/consumer.js';
export type { Publisher } from './amqp/publisher.js';
export type { StartAmqpOptions, AmqpPipeline } from './amqp/amqp-runtime.js';
/** Starts the RabbitMQ intake (see docs/amqp.md); loads the AMQP modules on first use. */
export async function startAmqp(
  options: import('./amqp/amqp-runtime.js').StartAmqpOptions,
): Promise<import('./amqp/amqp-runtime.js').AmqpPipeline> {
  const { startAmqp: start } = await import('./amqp/amqp-runtime.js');
  return start(options);
}
