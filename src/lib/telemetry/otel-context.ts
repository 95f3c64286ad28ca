import {
  INVALID_SPANID,
  INVALID_TRACEID,
  SpanKind,
  SpanStatusCode,
  context,
  createContextKey,
  propagation,
  trace,
  type Context,
  type Span,
  type SpanContext,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { classify, type ErrorKind } from '../primitives/classify.js';
import { redactSecrets } from '../primitives/secrets.js';
import type { ContextRunner, ReceivedMessage, TraceCarrier, TraceImpl } from './trace-context.js';

/**
 * The OpenTelemetry side of `trace-context.ts`, and the only file that uses the
 * @opentelemetry/api calls for spans and propagation: the receive span of a delivered message
 * (a child of its `traceparent`, or a new trace), the process span in the worker (from the
 * carrier a thread-channel request brings), the publish span whose context goes into the
 * published message's headers, and the ids on log lines. Loaded by `tracing.ts` only, so a
 * service with tracing off never loads it.
 *
 * Written for the cost of tracing every message (docs/observability.md, "What tracing
 * costs"): contexts are links, not copied maps; attributes are set only on a span that
 * records (validated once, by `setAttribute`); our own traceparent is formatted and read back
 * without the propagator's objects and regular expressions (an incoming header still goes
 * through OpenTelemetry's W3C propagator).
 */

const tracerName = 'worker-base';

/** The messaging destination of the work in the context (names the worker's process span). */
const destinationKey = createContextKey('worker-base.messaging.destination');

/**
 * A context as a chain of links, one (key, value) each: `setValue` allocates one small object
 * where @opentelemetry/api's `ROOT_CONTEXT` copies its whole Map. Any `Context` may be a
 * parent, so a context made elsewhere (Sentry's, the API's) is extended the same way.
 */
class LinkedContext implements Context {
  readonly #parent: Context | undefined;
  readonly #key: symbol | undefined;
  readonly #value: unknown;

  constructor(parent?: Context, key?: symbol, value?: unknown) {
    this.#parent = parent;
    this.#key = key;
    this.#value = value;
  }

  getValue(key: symbol): unknown {
    return key === this.#key ? this.#value : this.#parent?.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    return new LinkedContext(this, key, value);
  }

  deleteValue(key: symbol): Context {
    return new LinkedContext(this, key, undefined);
  }
}

const root: Context = new LinkedContext();

let tracer: Tracer | undefined;

/** Our tracer, asked of the global provider once (it is registered before this is called). */
function getTracer(): Tracer {
  tracer ??= trace.getTracer(tracerName);
  return tracer;
}

/** `trace_id` and `span_id` of the active span, for log lines; undefined without one. */
function activeTraceFields(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** The span context of `ctx`'s span when it is a valid one (what the W3C propagator injects). */
function validSpanContext(ctx: Context): SpanContext | undefined {
  const spanContext = trace.getSpan(ctx)?.spanContext();
  return spanContext === undefined ||
    spanContext.traceId === INVALID_TRACEID ||
    spanContext.spanId === INVALID_SPANID
    ? undefined
    : spanContext;
}

/** The W3C `traceparent` of a span context, as the W3C propagator writes it. */
function traceparentOf({ traceId, spanId, traceFlags }: SpanContext): string {
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The active context's `traceparent` (for a ZeroMQ frame); '' without one. */
function currentTraceparent(): string {
  const spanContext = validSpanContext(context.active());
  return spanContext === undefined ? '' : traceparentOf(spanContext);
}

/** The active context for a thread hop; undefined when there is none. */
function currentCarrier(): TraceCarrier | undefined {
  const active = context.active();
  const spanContext = validSpanContext(active);
  if (spanContext === undefined) return undefined;
  const destination = active.getValue(destinationKey);
  return [
    traceparentOf(spanContext),
    spanContext.traceState?.serialize(),
    typeof destination === 'string' ? destination : undefined,
  ];
}

const headerGetter: TextMapGetter<Readonly<Record<string, unknown>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (typeof value === 'string') return value;
    return Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
  },
};

/**
 * Ends `span` when `run()` settles, recording a throw with its classification's kind; `run`
 * runs in `ctx`, or in the active context when `ctx` is undefined (one context switch less).
 */
function endWith<T>(span: Span, ctx: Context | undefined, run: () => T): T {
  // A span that does not record ignores end() and errors: no wrapper for it (most spans when
  // sampling, and three a message saved).
  if (!span.isRecording()) return ctx === undefined ? run() : context.with(ctx, run);
  let result: T;
  try {
    result = ctx === undefined ? run() : context.with(ctx, run);
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

/**
 * Records a failure on the span, its texts with secrets masked (see `redactSecrets`): spans
 * leave the process for the collector and miss the log's last pass.
 */
function recordError(span: Span, error: unknown, kind: string = classify(error)): void {
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as { code?: unknown }).code;
  span.recordException({
    name: e.name,
    message: redactSecrets(e.message),
    ...(e.stack !== undefined && { stack: redactSecrets(e.stack) }),
    ...((typeof code === 'string' || typeof code === 'number') && { code }),
  });
  span.setAttribute('error.type', kind);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: redactSecrets(`${kind}: ${String(error)}`).slice(0, 300),
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
  const parent = headers === undefined ? root : propagation.extract(root, headers, headerGetter);
  const span = startMessagingSpan('receive', queue, parent);
  if (span.isRecording()) {
    span.setAttribute('messaging.message.conversation_id', correlationId);
    span.setAttribute('messaging.message.body.size', message.body.length);
    span.setAttribute('messaging.rabbitmq.destination.routing_key', message.routingKey);
    if (messageId !== undefined) span.setAttribute('messaging.message.id', messageId);
  }
  const ctx = trace.setSpan(parent, span).setValue(destinationKey, queue);
  return endWith(span, ctx, fn);
}

/** Span names by operation and destination: a handful of strings, made once each. */
const spanNames = new Map<string, string>();

/**
 * Starts a span named `<operation> <destination>`, a child of `parent`, with the messaging
 * semantic conventions' attributes (operation type `type`, name `operation`) when it records:
 * a span that is not sampled gets none, and the samplers offered do not read them.
 */
function startMessagingSpan(
  operation: 'receive' | 'process' | 'publish',
  destination: string,
  parent: Context,
): Span {
  const kind = operation === 'publish' ? SpanKind.PRODUCER : SpanKind.CONSUMER;
  const key = `${operation}\0${destination}`;
  let name = spanNames.get(key);
  if (name === undefined) {
    name = `${operation} ${destination}`;
    if (spanNames.size < 1000) spanNames.set(key, name);
  }
  const span = getTracer().startSpan(name, { kind }, parent);
  if (span.isRecording()) {
    span.setAttribute('messaging.system', 'rabbitmq');
    span.setAttribute('messaging.operation.type', operation === 'publish' ? 'send' : operation);
    span.setAttribute('messaging.operation.name', operation);
    span.setAttribute('messaging.destination.name', destination);
  }
  return span;
}

/** Records a failure on the active span (status error, the classification's kind). */
function recordActiveError(error: unknown, kind: ErrorKind): void {
  const span = trace.getActiveSpan();
  if (span !== undefined) recordError(span, error, kind);
}

/** Takes the active context; the runner runs a function in it. */
function activeContextRunner(): ContextRunner {
  const taken = context.active();
  return (fn) => context.with(taken, fn);
}

/**
 * The context a carrier stands for. A carrier is made by `currentCarrier()` in another of
 * our threads, so its traceparent is read by position; anything else (never expected) goes
 * through the W3C propagator, which validates it.
 */
function contextOfCarrier(traceparent: string, tracestate: string | undefined): Context {
  if (traceparent.length === 55 && traceparent.startsWith('00-')) {
    const flags = Number.parseInt(traceparent.slice(53, 55), 16);
    return trace.setSpanContext(root, {
      traceId: traceparent.slice(3, 35),
      spanId: traceparent.slice(36, 52),
      traceFlags: Number.isNaN(flags) ? 0 : flags,
      isRemote: true,
      ...(tracestate !== undefined && { traceState: new TraceState(tracestate) }),
    });
  }
  const headers: Record<string, string> = { traceparent };
  if (tracestate !== undefined) headers['tracestate'] = tracestate;
  return propagation.extract(root, headers, headerGetter);
}

/**
 * In the thread that receives a request: runs `fn` in the sender's context, inside a process
 * span (`process <destination>`) when the sender's work has a messaging destination.
 */
function withCarrier<T>(carrier: TraceCarrier, fn: () => T): T {
  const [traceparent, tracestate, destination] = carrier;
  const parent = contextOfCarrier(traceparent, tracestate);
  if (destination === undefined) return context.with(parent, fn);
  const span = startMessagingSpan('process', destination, parent);
  return endWith(span, trace.setSpan(parent, span).setValue(destinationKey, destination), fn);
}

/**
 * Publishes inside a publish span (`publish <destination>`, a child of the active span or,
 * without one, of the trace context the headers carry: a message forwarded outside its
 * processing, as a hand-back when the drain times out, stays in its trace): `publish` gets
 * `headers` with this span's `traceparent` (and `tracestate`) set, replacing any the headers
 * had. Ends when the broker confirms or refuses.
 */
function tracePublish<T>(
  destination: string,
  routingKey: string,
  headers: Readonly<Record<string, unknown>> | undefined,
  publish: (headers: Record<string, unknown> | undefined) => Promise<T>,
): Promise<T> {
  let active = context.active();
  if (headers !== undefined && trace.getSpan(active) === undefined) {
    active = propagation.extract(active, headers, headerGetter);
  }
  const span = startMessagingSpan('publish', destination, active);
  if (span.isRecording()) {
    span.setAttribute('messaging.rabbitmq.destination.routing_key', routingKey);
  }
  const ctx = trace.setSpan(active, span);
  const out: Record<string, unknown> = { ...headers };
  delete out['traceparent'];
  delete out['tracestate'];
  const spanContext = validSpanContext(ctx);
  if (spanContext !== undefined) {
    out['traceparent'] = traceparentOf(spanContext);
    const tracestate = spanContext.traceState?.serialize();
    // Empty (a producer's tracestate that was no list: the parser keeps nothing) is left out:
    // W3C trace context's empty header is a header to drop.
    if (tracestate !== undefined && tracestate !== '') out['tracestate'] = tracestate;
  }
  // `publish` runs in the receive span's context: it logs nothing of its own, and its lines
  // would carry the same trace; the publish span only has to frame it.
  return endWith(span, undefined, () => publish(out));
}

/** The implementation `tracing.ts` installs into `trace-context.ts`. */
export const otelTraceImpl: TraceImpl = {
  activeTraceFields,
  currentTraceparent,
  currentCarrier,
  withReceiveSpan,
  recordActiveError,
  activeContextRunner,
  withCarrier,
  tracePublish,
};
