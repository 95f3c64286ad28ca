import type { ErrorKind } from '../primitives/classify.js';
import { readTraceFieldsWith } from '../primitives/logger.js';

/**
 * W3C trace context through the service: the calls the consumer, the publisher, the thread
 * channel, the logger and the sample make. Each is a no-op (one test of a module variable)
 * until `tracing.ts`, loaded only when tracing is on, installs the OpenTelemetry
 * implementation (`otel-context.ts`) in this thread; so with tracing off not even
 * @opentelemetry/api is loaded.
 */

/** What crosses a thread boundary: traceparent, tracestate, and the messaging destination. */
export type TraceCarrier = [traceparent: string, tracestate?: string, destination?: string];

/** What the receive span reads of a delivered message (an AmqpMessage fits). */
export interface ReceivedMessage {
  body: { length: number };
  routingKey: string;
  properties: { headers?: Readonly<Record<string, unknown>>; messageId?: string | undefined };
}

/** Runs a function in a context taken earlier (see `activeContextRunner()`). */
export type ContextRunner = <T>(fn: () => T) => T;

/** The calls below, as the OpenTelemetry implementation provides them. */
export interface TraceImpl {
  activeTraceFields(): { trace_id: string; span_id: string } | undefined;
  currentTraceparent(): string;
  currentCarrier(): TraceCarrier | undefined;
  withReceiveSpan<T>(
    message: ReceivedMessage,
    correlationId: string,
    queue: string,
    fn: () => Promise<T>,
  ): Promise<T>;
  recordActiveError(error: unknown, kind: ErrorKind): void;
  activeContextRunner(): ContextRunner;
  withCarrier<T>(carrier: TraceCarrier, fn: () => T): T;
  tracePublish<T>(
    destination: string,
    routingKey: string,
    headers: Readonly<Record<string, unknown>> | undefined,
    publish: (headers: Record<string, unknown> | undefined) => Promise<T>,
  ): Promise<T>;
}

let impl: TraceImpl | undefined;

/** Called by `startTracing()` once this thread's provider is registered. */
export function installTraceImpl(implementation: TraceImpl | undefined): void {
  impl = implementation;
  // Log lines carry the active span's ids from now on (the logger sits below this module).
  readTraceFieldsWith(implementation && (() => implementation.activeTraceFields()));
}

/** `trace_id` and `span_id` of the active span, for log lines; undefined without one. */
export function activeTraceFields(): { trace_id: string; span_id: string } | undefined {
  return impl?.activeTraceFields();
}

/** The active context's `traceparent` (for a ZeroMQ frame); '' without one. */
export function currentTraceparent(): string {
  return impl === undefined ? '' : impl.currentTraceparent();
}

/** The active context for a thread hop; undefined when there is none. */
export function currentCarrier(): TraceCarrier | undefined {
  return impl?.currentCarrier();
}

/**
 * Runs `fn` in the receive span of one delivered message: a child of the message's
 * `traceparent`/`tracestate` headers, or the root of a new trace. Ends when `fn` settles.
 */
export function withReceiveSpan<T>(
  message: ReceivedMessage,
  correlationId: string,
  queue: string,
  fn: () => Promise<T>,
): Promise<T> {
  return impl === undefined ? fn() : impl.withReceiveSpan(message, correlationId, queue, fn);
}

/** Records a failure on the active span (status error, the classification's kind). */
export function recordActiveError(error: unknown, kind: ErrorKind): void {
  impl?.recordActiveError(error, kind);
}

const runHere: ContextRunner = (fn) => fn();

/**
 * Takes the active context, for work done later outside it (a timer's): the runner runs a
 * function in that context, so its log lines and recorded errors belong to that span.
 */
export function activeContextRunner(): ContextRunner {
  return impl === undefined ? runHere : impl.activeContextRunner();
}

/**
 * In the thread that receives a request: runs `fn` in the sender's context, inside a process
 * span (`process <destination>`) when the sender's work has a messaging destination.
 */
export function withCarrier<T>(carrier: TraceCarrier | undefined, fn: () => T): T {
  return impl === undefined || carrier === undefined ? fn() : impl.withCarrier(carrier, fn);
}

/**
 * Publishes inside a publish span (`publish <destination>`, a child of the active context, or
 * of the headers' own trace context when no span is active): `publish` gets `headers` with
 * this span's `traceparent` (and `tracestate`) set, replacing any the headers had. Ends when
 * the broker confirms or refuses.
 */
export function tracePublish<T>(
  destination: string,
  routingKey: string,
  headers: Readonly<Record<string, unknown>> | undefined,
  publish: (headers: Record<string, unknown> | undefined) => Promise<T>,
): Promise<T> {
  return impl === undefined
    ? publish(headers)
    : impl.tracePublish(destination, routingKey, headers, publish);
}
