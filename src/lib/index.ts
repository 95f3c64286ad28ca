/**
 * The public API of worker-base: the one module an app's main-thread code imports (types
 * included). Everything else under `src/lib` is internal and may change between versions.
 * Two light doors sit beside it for code whose load time matters: `worker.ts` for worker
 * threads (re-exported here) and `entry.ts` for the entry module.
 */
import { amqp } from './amqp/amqp-integration.js';

export * from './worker.js';

// Running a service
export { runService } from './runtime/run-service.js';
export type { RunServiceOptions, ServiceContext } from './runtime/service-context.js';
export type { Integration } from './primitives/integration.js';

// Configuration
export { coreConfigSchema, coreEnv, logLevels, type CoreConfig } from './runtime/core-config.js';
export {
  flag,
  integer,
  millis,
  notSecret,
  optionalUrl,
  secret,
  upperSnake,
  zmqEndpoint,
} from './primitives/config-fields.js';
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
export { Policies, type ResiliencePolicy } from './resilience/policies.js';

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
export { cronSchedule, type Scheduler } from './schedule.js';

// RabbitMQ, an integration the app adds (config section, env, start): its modules and amqplib
// load only when started, so a service without a broker never loads them.
export { amqp };
export type { AmqpConfig } from './amqp/amqp-config.js';
export type { AmqpHost } from './amqp/amqp-host.js';
export type { Delivery, MessageHandler } from './amqp/consumer.js';
export type { Publisher } from './amqp/publisher.js';
export type { StartAmqpOptions, AmqpPipeline } from './amqp/start-amqp.js';
/** Starts the RabbitMQ intake (see docs/amqp.md); the same as `amqp.start`. */
export const startAmqp = amqp.start;
