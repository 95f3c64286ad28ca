import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  createContextKey,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api';
import { classify, type ErrorKind } from '../primitives/classify.js';
import type { ReceivedMessage, TraceCarrier, TraceImpl } from './trace-context.js';

/**
 * The OpenTelemetry side of `trace-context.ts`, and the only file that uses the
 * @opentelemetry/api calls for spans and propagation: the receive span of a delivered message
 * (a child of its `traceparent`, or a new trace), the process span in the worker (from the
 * carrier a thread-channel request brings), the publish span whose context goes into the
 * published message's headers, and the ids on log lines. Loaded by `tracing.ts` only, so a
 * service with tracing off never loads it.
 */

const tracerName = 'worker-base';

/** The messaging destination of the work in the context (names the worker's process span). */
const destinationKey = createContextKey('worker-base.messaging.destination');

/** `trace_id` and `span_id` of the active span, for log lines; undefined without one. */
function activeTraceFields(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** The active context's `traceparent` (for a ZeroMQ frame); '' without one. */
function currentTraceparent(): string {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier['traceparent'] ?? '';
}

/** The active context for a thread hop; undefined when there is none. */
function currentCarrier(): TraceCarrier | undefined {
  const active = context.active();
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier);
  const parent = carrier['traceparent'];
  if (parent === undefined) return undefined;
  const destination = active.getValue(destinationKey);
  return [parent, carrier['tracestate'], typeof destination === 'string' ? destination : undefined];
}

const headerGetter: TextMapGetter<Readonly<Record<string, unknown>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (typeof value === 'string') return value;
    return Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
  },
};

/** Ends `span` when `run()` settles, recording a throw with its classification's kind. */
function endWith<T>(span: Span, ctx: Context, run: () => T): T {
  let result: T;
  try {
    result = context.with(ctx, run);
  } catch (error) {
    recordError(span, error);
    span.end();
    throw error;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        recordError(span, error);
        span.end();
        throw error;
      },
    ) as T;
  }
  span.end();
  return result;
}

function recordError(span: Span, error: unknown, kind: string = classify(error)): void {
  span.recordException(error instanceof Error ? error : new Error(String(error)));
  span.setAttribute('error.type', kind);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: `${kind}: ${String(error)}`.slice(0, 300),
  });
}

/**
 * Runs `fn` in the receive span of one delivered message: a child of the message's
 * `traceparent`/`tracestate` headers, or the root of a new trace. Ends when `fn` settles.
 */
function withReceiveSpan<T>(
  message: ReceivedMessage,
  correlationId: string,
  queue: string,
  fn: () => Promise<T>,
): Promise<T> {
  const { headers, messageId } = message.properties;
  const parent = propagation.extract(ROOT_CONTEXT, headers ?? {}, headerGetter);
  const attributes: Attributes = {
    'messaging.message.conversation_id': correlationId,
    'messaging.message.body.size': message.body.length,
    'messaging.rabbitmq.destination.routing_key': message.routingKey,
  };
  if (messageId !== undefined) attributes['messaging.message.id'] = messageId;
  const span = startMessagingSpan('receive', queue, parent, attributes);
  const ctx = trace.setSpan(parent, span).setValue(destinationKey, queue);
  return endWith(span, ctx, fn);
}

/**
 * Starts a span named `<operation> <destination>` with the messaging semantic conventions'
 * attributes (operation type `type`, name `operation`), a child of `parent`.
 */
function startMessagingSpan(
  operation: 'receive' | 'process' | 'publish',
  destination: string,
  parent: Context,
  extra: Attributes,
): Span {
  const type = operation === 'publish' ? 'send' : operation;
  const kind = operation === 'publish' ? SpanKind.PRODUCER : SpanKind.CONSUMER;
  const attributes: Attributes = {
    'messaging.system': 'rabbitmq',
    'messaging.operation.type': type,
    'messaging.operation.name': operation,
    'messaging.destination.name': destination,
    ...extra,
  };
  return trace
    .getTracer(tracerName)
    .startSpan(`${operation} ${destination}`, { kind, attributes }, parent);
}

/** Records a failure on the active span (status error, the classification's kind). */
function recordActiveError(error: unknown, kind: ErrorKind): void {
  const span = trace.getActiveSpan();
  if (span !== undefined) recordError(span, error, kind);
}

/**
 * In the thread that receives a request: runs `fn` in the sender's context, inside a process
 * span (`process <destination>`) when the sender's work has a messaging destination.
 */
function withCarrier<T>(carrier: TraceCarrier, fn: () => T): T {
  const [traceparent, tracestate, destination] = carrier;
  const headers: Record<string, string> = { traceparent };
  if (tracestate !== undefined) headers['tracestate'] = tracestate;
  const parent = propagation.extract(ROOT_CONTEXT, headers, headerGetter);
  if (destination === undefined) return context.with(parent, fn);
  const span = startMessagingSpan('process', destination, parent, {});
  return endWith(span, trace.setSpan(parent, span).setValue(destinationKey, destination), fn);
}

/**
 * Publishes inside a publish span (`publish <destination>`, a child of the active context):
 * `publish` gets `headers` with this span's `traceparent` (and `tracestate`) set, replacing
 * any the headers had. Ends when the broker confirms or refuses.
 */
function tracePublish<T>(
  destination: string,
  routingKey: string,
  headers: Readonly<Record<string, unknown>> | undefined,
  publish: (headers: Record<string, unknown> | undefined) => Promise<T>,
): Promise<T> {
  const active = context.active();
  const span = startMessagingSpan('publish', destination, active, {
    'messaging.rabbitmq.destination.routing_key': routingKey,
  });
  const ctx = trace.setSpan(active, span);
  const out: Record<string, unknown> = { ...headers };
  delete out['traceparent'];
  delete out['tracestate'];
  propagation.inject(ctx, out);
  return endWith(span, ctx, () => publish(out));
}

/** The implementation `tracing.ts` installs into `trace-context.ts`. */
export const otelTraceImpl: TraceImpl = {
  activeTraceFields,
  currentTraceparent,
  currentCarrier,
  withReceiveSpan,
  recordActiveError,
  withCarrier,
  tracePublish,
};
