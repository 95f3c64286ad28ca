/**
 * The public API for modules that run in worker threads (`*.worker.ts` and what they import).
 * Each worker thread loads its own copy of every module it imports, so this door holds only
 * what a worker needs and stays light: no config schemas, no integrations. `index.ts`
 * re-exports all of it for the main thread.
 */
export {
  runWorker,
  peer,
  channelCloseTimeoutMs,
  type WorkerContext,
} from './threads/run-worker.js';
export {
  ThreadChannel,
  type ChannelContract,
  type ChannelPort,
  type RequestHandler,
} from './threads/thread-channel.js';
export { sleep, untilAborted } from './primitives/waits.js';
export { validateInput } from './primitives/config.js';
export {
  ErrorCodes,
  WorkerBaseError,
  ConfigError,
  DependencyError,
  TransientError,
  PermanentError,
  HttpError,
  hasCode,
  isDependencyError,
  type ErrorCode,
  type WorkerBaseErrorOptions,
} from './primitives/errors.js';
export { classify, type ErrorKind } from './primitives/classify.js';
export {
  currentCorrelationId,
  newCorrelationId,
  withCorrelationId,
} from './primitives/correlation.js';
export { currentTraceparent } from './telemetry/trace-context.js';
export type { Logger, LogFn, LogLevel } from './primitives/logger.js';
export type { ProcessControl } from './primitives/process-control.js';
export type { Metrics, MetricTags } from './telemetry/metrics.js';
