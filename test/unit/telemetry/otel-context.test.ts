import { after, before, beforeEach, describe, test } from 'node:test';
import { forgetSecrets, rememberSecret } from '../../../src/lib/primitives/secrets.js';
import assert from 'node:assert/strict';
import {
  ROOT_CONTEXT,
  SpanKind,
  context,
  createContextKey,
  propagation,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { otelTraceImpl } from '../../../src/lib/telemetry/otel-context.js';
import {
  activeTraceFields,
  currentCarrier,
  currentTraceparent,
  installTraceImpl,
  tracePublish,
  withCarrier,
  withReceiveSpan,
  type TraceCarrier,
} from '../../../src/lib/telemetry/trace-context.js';

/**
 * The OpenTelemetry side of trace-context.ts in one thread, with the SDK's in-memory exporter:
 * what the process test cannot see from outside (tracestate across the thread hop, the
 * headers a publish replaces, an unsampled trace recording nothing but still propagating).
 */

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const producerSpan = '00f067aa0ba902b7';
const exporter = new InMemorySpanExporter();

const message = (headers?: Record<string, unknown>) => ({
  body: { length: 42 },
  routingKey: 'rk',
  properties: { headers, messageId: 'm-1' },
});

before(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new TracerProvider({
      sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    }),
  );
  installTraceImpl(otelTraceImpl);
});

beforeEach(() => exporter.reset());

describe('otel-context', () => {
  test('receive -> carrier -> process -> publish: one trace, tracestate kept, parents right', async () => {
    let carrier: TraceCarrier | undefined;
    let published: Record<string, unknown> | undefined;
    await withReceiveSpan(
      message({ traceparent: `00-${traceId}-${producerSpan}-01`, tracestate: 'vendor=abc' }),
      'cid-1',
      'q.events',
      async () => {
        carrier = currentCarrier();
        assert.equal(currentTraceparent(), carrier?.[0]);
        // The worker's side of the hop (here in the same thread, outside the receive context).
        await context.with(ROOT_CONTEXT, () =>
          withCarrier(carrier, () => {
            assert.equal(activeTraceFields()?.trace_id, traceId);
            return Promise.resolve();
          }),
        );
        await tracePublish(
          'ex',
          'results',
          { traceparent: 'stale', tracestate: 'stale', other: 'kept' },
          (headers) => {
            published = headers;
            return Promise.resolve();
          },
        );
      },
    );
    const spans = exporter.getFinishedSpans();
    const named = (name: string) => spans.find((s) => s.name === name);
    const receive = named('receive q.events');
    const processed = named('process q.events');
    const publish = named('publish ex');
    assert.ok(receive && processed && publish, spans.map((s) => s.name).join());
    for (const span of [receive, processed, publish]) {
      assert.equal(span.spanContext().traceId, traceId);
      assert.equal(span.spanContext().traceState?.get('vendor'), 'abc');
    }
    assert.equal(receive.parentSpanContext?.spanId, producerSpan);
    assert.deepEqual(carrier, [
      `00-${traceId}-${receive.spanContext().spanId}-01`,
      'vendor=abc',
      'q.events',
    ]);
    assert.equal(processed.parentSpanContext?.spanId, receive.spanContext().spanId);
    assert.equal(processed.kind, SpanKind.CONSUMER);
    assert.equal(publish.parentSpanContext?.spanId, receive.spanContext().spanId);
    assert.equal(publish.kind, SpanKind.PRODUCER);
    assert.deepEqual(published, {
      other: 'kept',
      traceparent: `00-${traceId}-${publish.spanContext().spanId}-01`,
      tracestate: 'vendor=abc',
    });
    assert.deepEqual(receive.attributes, {
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'receive',
      'messaging.operation.name': 'receive',
      'messaging.destination.name': 'q.events',
      'messaging.message.conversation_id': 'cid-1',
      'messaging.message.body.size': 42,
      'messaging.rabbitmq.destination.routing_key': 'rk',
      'messaging.message.id': 'm-1',
    });
    assert.equal(publish.attributes['messaging.operation.type'], 'send');
    assert.equal(publish.attributes['messaging.rabbitmq.destination.routing_key'], 'results');
  });

  test('an unsampled incoming trace records nothing and still propagates, flags 00', async () => {
    let carrier: TraceCarrier | undefined;
    let published: Record<string, unknown> | undefined;
    await withReceiveSpan(
      message({ traceparent: `00-${traceId}-${producerSpan}-00` }),
      'c',
      'q',
      () => {
        carrier = currentCarrier();
        return tracePublish('ex', 'rk', undefined, (headers) => {
          published = headers;
          return Promise.resolve();
        });
      },
    );
    assert.equal(exporter.getFinishedSpans().length, 0);
    assert.match(carrier?.[0] ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    assert.equal(carrier?.[1], undefined);
    assert.match(String(published?.['traceparent']), new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    assert.equal(published?.['tracestate'], undefined);
  });

  test("a producer's tracestate that is no list is dropped, not published empty", async () => {
    let published: Record<string, unknown> | undefined;
    await withReceiveSpan(
      message({ traceparent: `00-${traceId}-${producerSpan}-01`, tracestate: '!!!, @@@' }),
      'c',
      'q',
      () =>
        tracePublish('ex', 'rk', { tracestate: 'stale' }, (headers) => {
          published = headers;
          return Promise.resolve();
        }),
    );
    assert.match(String(published?.['traceparent']), new RegExp(`^00-${traceId}-`));
    assert.equal('tracestate' in (published ?? {}), false, JSON.stringify(published));
  });

  test('a message without headers starts a new trace; outside any span there is no context', async () => {
    assert.equal(currentTraceparent(), '');
    assert.equal(currentCarrier(), undefined);
    let inside = '';
    await withReceiveSpan(message(), 'c', 'q', () => {
      inside = currentTraceparent();
      return Promise.resolve();
    });
    const [receive] = exporter.getFinishedSpans();
    assert.equal(receive?.parentSpanContext, undefined);
    assert.equal(
      inside,
      `00-${receive?.spanContext().traceId}-${receive?.spanContext().spanId}-01`,
    );
  });

  test('a handler error ends the span with the error recorded; values set on our contexts read back', async () => {
    await assert.rejects(
      withReceiveSpan(message(), 'c', 'q', () => {
        // Contexts made here are our linked ones: set, read, delete, and the parent shows through.
        const key = createContextKey('test');
        const set = context.active().setValue(key, 1);
        assert.equal(set.getValue(key), 1);
        assert.equal(trace.getSpan(set), trace.getActiveSpan());
        assert.equal(set.deleteValue(key).getValue(key), undefined);
        assert.equal(trace.getSpan(set.deleteValue(key)), trace.getActiveSpan());
        return Promise.reject(new Error('boom'));
      }),
      /boom/,
    );
    const [receive] = exporter.getFinishedSpans();
    assert.equal(receive?.status.code, 2);
    assert.equal(receive?.attributes['error.type'], 'unexpected');
    assert.equal(receive?.events[0]?.name, 'exception');
  });

  test('an error recorded on a span has its secrets masked: the collector is outside the process', async () => {
    rememberSecret('remembered-s3cret');
    after(forgetSecrets);
    // What fetch throws for a URL with credentials quotes the URL whole.
    const error = new TypeError(
      'Request cannot be constructed from a URL that includes credentials: https://user:hunter2pass@api.example/ (remembered-s3cret)',
    );
    await assert.rejects(
      withReceiveSpan(message(), 'c', 'q', () => Promise.reject(error)),
      /hunter2pass/,
      'the error itself is untouched',
    );
    const [receive] = exporter.getFinishedSpans();
    const exported = JSON.stringify([receive?.events, receive?.status]);
    assert.doesNotMatch(exported, /hunter2pass|remembered-s3cret/);
    assert.match(exported, /https:\/\/user:\[Redacted\]@api\.example/);
    assert.equal(receive?.events[0]?.attributes?.['exception.type'], 'TypeError');
    assert.match(String(receive?.events[0]?.attributes?.['exception.stacktrace']), /\[Redacted\]/);
  });
});
