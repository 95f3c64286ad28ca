import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { LogLine, ServiceProcess } from '../helpers/service-process.js';
import {
  BrokerObserver,
  startAmqpFixture,
  subscribeResults,
  createVhost,
  queues,
  type Received,
  type TestVhost,
} from '../helpers/broker.js';
import { freePort } from '../helpers/http-recorder.js';
import { HostilePeer } from '../helpers/hostile-peer.js';
import { OtlpRecorder, type RecordedSpan } from '../helpers/otlp-recorder.js';
import { SentryRecorder } from '../helpers/sentry-recorder.js';
import type { FixtureResult } from '../fixtures/amqp-service/work.worker.js';

/**
 * W3C trace context end to end, through the AMQP fixture service on the real broker, with the real OpenTelemetry exporter
 * posting to a loopback OTLP/HTTP receiver: an incoming `traceparent` becomes the parent of
 * the receive span, the worker thread's process span and the publish span, and the published
 * result's header, retry copies and failed copies carry the same trace; log lines carry the
 * ids; Sentry, configured too, reports errors under the same trace id; an unreachable
 * collector changes nothing.
 */

const CONSUMER = 5;
const exchange = 'worker-base';
const PRODUCER = 4;

let vhost: TestVhost;
let observer: BrokerObserver;
const services: ServiceProcess[] = [];
const recorders: Array<{ close(): Promise<void> }> = [];

function traceparent(): { header: string; traceId: string; parentId: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { header: `00-${traceId}-${parentId}-01`, traceId, parentId };
}

function start(extra: Record<string, string>): ServiceProcess {
  const service = startAmqpFixture(vhost.url, {
    LOG_LEVEL: 'debug',
    HEARTBEAT_MS: '1000',
    // The recorder decodes OTLP JSON; the default is protobuf (the same exporter base).
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    ...extra,
  });
  services.push(service);
  return service;
}

async function otlp(): Promise<OtlpRecorder> {
  const recorder = new OtlpRecorder();
  recorders.push(recorder);
  await recorder.start();
  return recorder;
}

function headerOf(r: Received, name: string): string {
  const value: unknown = r.properties.headers?.[name];
  if (typeof value === 'string') return value;
  return Buffer.isBuffer(value) ? value.toString('utf8') : '';
}

function spanNamed(spans: RecordedSpan[], traceId: string, name: string): RecordedSpan[] {
  return spans.filter((s) => s.traceId === traceId && s.name === name);
}

before(async () => {
  vhost = await createVhost('tracing');
});
beforeEach(async () => {
  observer = await BrokerObserver.open(vhost.url);
  await observer.assertQueue(queues.input);
});
afterEach(async () => {
  for (const service of services.splice(0)) await service.stop();
  for (const recorder of recorders.splice(0)) await recorder.close();
  for (const queue of [queues.input, queues.results, queues.failed]) {
    await observer.deleteQueue(queue);
  }
  await observer.close();
});
after(async () => {
  await vhost.remove();
});

describe('tracing through the AMQP pipeline', () => {
  test('an incoming traceparent: receive, process (worker) and publish spans share its trace, and so does the result header', async () => {
    const collector = await otlp();
    const service = start({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.baseUrl,
      OTEL_SERVICE_NAME: 'traced-fixture',
    });
    await service.waitFor('ready', 15_000);
    const traces = Array.from({ length: 5 }, traceparent);
    await observer.publish(
      queues.input,
      traces.map((_, i) => JSON.stringify({ id: `traced-${i}`, text: `event ${i}` })),
      (i) => ({ messageId: `traced-${i}`, headers: { traceparent: traces[i]!.header } }),
    );
    const results = await observer.collect(queues.results, (r) => r.length >= traces.length);

    for (const [i, t] of traces.entries()) {
      const result = results.find((r) => r.properties.messageId === `traced-${i}`);
      assert.ok(result, `result of traced-${i}`);
      const [, resultTrace, resultParent] = headerOf(result, 'traceparent').split('-');
      assert.equal(resultTrace, t.traceId, 'the result header continues the incoming trace');

      await collector.waitForSpans(
        (spans) => spans.filter((s) => s.traceId === t.traceId).length >= 3,
      );
      const spans = collector.spans;
      const [receive] = spanNamed(spans, t.traceId, `receive ${queues.input}`);
      const [processed] = spanNamed(spans, t.traceId, `process ${queues.input}`);
      // Published to the exchange (the destination), with the results queue as routing key.
      const [publish] = spanNamed(spans, t.traceId, `publish ${exchange}`);
      assert.ok(receive && processed && publish, JSON.stringify(spans.map((s) => s.name)));
      assert.equal(receive.parentSpanId, t.parentId, 'receive is a child of the incoming span');
      assert.equal(receive.kind, CONSUMER);
      assert.equal(receive.thread, 'main');
      assert.equal(receive.service, 'traced-fixture');
      assert.equal(receive.attributes['messaging.system'], 'rabbitmq');
      assert.equal(receive.attributes['messaging.destination.name'], queues.input);
      assert.equal(receive.attributes['messaging.message.id'], `traced-${i}`);
      assert.equal(processed.parentSpanId, receive.spanId);
      assert.equal(processed.thread, 'work', 'the process span comes from the worker thread');
      assert.equal(publish.parentSpanId, receive.spanId);
      assert.equal(publish.kind, PRODUCER);
      assert.equal(publish.attributes['messaging.operation.type'], 'send');
      assert.equal(
        publish.attributes['messaging.rabbitmq.destination.routing_key'],
        queues.results,
      );
      assert.equal(resultParent, publish.spanId, "the result's parent is the publish span");
    }

    // Log lines of that processing carry the ids, beside the correlation id, in both threads.
    const first = traces[0]!.traceId;
    const traced = (thread: string) => (l: LogLine) =>
      l['trace_id'] === first && l.thread === thread && typeof l['span_id'] === 'string';
    await service.waitFor(traced('main'));
    await service.waitFor(traced('work'));
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
  });

  test('without a traceparent a new trace starts; retries and the failed copy carry the trace', async () => {
    const collector = await otlp();
    const service = start({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.baseUrl });
    await service.waitFor('ready', 15_000);
    const t = traceparent();
    await observer.publish(
      queues.input,
      [
        JSON.stringify({ id: 'untraced', text: 'no header' }),
        JSON.stringify({ id: 'retried', text: 'fails once', transient: 1 }),
        JSON.stringify({ id: 'poison', text: 'fails for good', permanent: true }),
      ],
      (i) => ({
        messageId: ['untraced', 'retried', 'poison'][i],
        ...(i > 0 && { headers: { traceparent: t.header } }),
      }),
    );
    const [failed] = await observer.collect(queues.failed, (r) => r.length >= 1);
    assert.equal(headerOf(failed!, 'traceparent').split('-')[1], t.traceId, 'failed copy');
    const results = await observer.collect(queues.results, (r) => r.length >= 2);
    const untraced = results.find((r) => r.properties.messageId === 'untraced')!;
    const retried = results.find((r) => r.properties.messageId === 'retried')!;
    const newTrace = headerOf(untraced, 'traceparent').split('-')[1] ?? '';
    assert.match(newTrace, /^[0-9a-f]{32}$/);
    assert.notEqual(newTrace, t.traceId);
    assert.equal(headerOf(retried, 'traceparent').split('-')[1], t.traceId, 'after a retry');

    await collector.waitForSpans(
      (spans) => spanNamed(spans, t.traceId, `receive ${queues.input}`).length >= 3,
    );
    const receives = spanNamed(collector.spans, t.traceId, `receive ${queues.input}`);
    const errors = receives.filter((s) => s.status.code === 2);
    assert.deepEqual(errors.map((s) => s.attributes['error.type']).sort(), [
      'permanent',
      'transient',
    ]);
    const retryPublish = collector.spans.find(
      (s) => s.traceId === t.traceId && s.name.startsWith(`publish ${queues.input}.retry`),
    );
    assert.ok(retryPublish, 'the retry copy is published in a span of the same trace');
    const redelivered = receives.find((s) => s.parentSpanId === retryPublish.spanId);
    assert.ok(redelivered, 'the retried delivery is a child of the retry publish');
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
  });

  test('with Sentry configured too: one provider, spans exported, and the error event carries the trace id', async () => {
    const collector = await otlp();
    const sentry = new SentryRecorder();
    recorders.push(sentry);
    await sentry.start();
    const service = start({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.baseUrl,
      SENTRY_DSN: sentry.dsn,
      AMQP_RETRY_DELAYS_MS: '100',
    });
    await service.waitFor('ready', 15_000);
    const t = traceparent();
    await observer.publish(
      queues.input,
      [JSON.stringify({ id: 'buggy', text: 'a bug', unexpected: true })],
      () => ({ messageId: 'buggy', headers: { traceparent: t.header } }),
    );
    await sentry.waitForEvent((e) =>
      /unexpected failure/.test(e.exception?.values?.[0]?.value ?? ''),
    );
    const event = sentry.events.find((e) =>
      /unexpected failure/.test(e.exception?.values?.[0]?.value ?? ''),
    ) as { contexts?: { trace?: { trace_id?: string } } } | undefined;
    assert.equal(event?.contexts?.trace?.trace_id, t.traceId, 'Sentry sees the same trace');
    await collector.waitForSpans((spans) => spans.some((s) => s.traceId === t.traceId));
    assert.ok(
      !service.lines.some((l) => /another OpenTelemetry tracer provider/.test(String(l.msg))),
      'no second provider',
    );
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
  });

  test('the results published on ZeroMQ carry the traceparent in a fourth frame', async () => {
    const collector = await otlp();
    const service = start({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.baseUrl });
    const ready = await service.waitFor('ready', 15_000);
    // One traced message per try until the subscription has taken (see subscribeResults).
    const sent = new Map<string, string>();
    const subscriber = await subscribeResults(String(ready['zmqEndpoint']), async (i) => {
      const t = traceparent();
      sent.set(`zmq-${i}`, t.traceId);
      await observer.publish(queues.input, [JSON.stringify({ text: 'x' })], () => ({
        messageId: `zmq-${i}`,
        headers: { traceparent: t.header },
      }));
    });
    subscriber.close();
    const [, , json, frame] = subscriber.first.map((f) => f.toString());
    const result = JSON.parse(json ?? '{}') as FixtureResult;
    const [, traceId] = String(frame).split('-');
    assert.equal(
      traceId,
      sent.get(String(result.messageId)),
      "the frame continues the message's trace",
    );
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
  });

  test('spans still batched at TERM are exported in the shutdown; a hanging collector holds it at most the flush timeout', async () => {
    const collector = await otlp();
    const service = start({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.baseUrl });
    await service.waitFor('ready', 15_000);
    const t = traceparent();
    await observer.publish(queues.input, [JSON.stringify({ id: 'last', text: 'x' })], () => ({
      messageId: 'last',
      headers: { traceparent: t.header },
    }));
    await observer.collect(queues.results, (r) => r.length >= 1);
    // Spans are batched for a second: TERM now, and they go out in the flush phase.
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
    const names = collector.spans.filter((s) => s.traceId === t.traceId).map((s) => s.name);
    assert.deepEqual(names.sort(), [
      `process ${queues.input}`,
      `publish ${exchange}`,
      `receive ${queues.input}`,
    ]);

    const hanging = new OtlpRecorder('hang');
    recorders.push(hanging);
    await hanging.start();
    const held = start({
      OTEL_EXPORTER_OTLP_ENDPOINT: hanging.baseUrl,
      TRACING_FLUSH_TIMEOUT_MS: '500',
    });
    await held.waitFor('ready', 15_000);
    await observer.publish(queues.input, [JSON.stringify({ id: 'held', text: 'x' })], () => ({
      messageId: 'held',
      headers: { traceparent: traceparent().header },
    }));
    await observer.collect(queues.results, (r) => r.length >= 1);
    const started = performance.now();
    held.signal('SIGTERM');
    assert.equal((await held.waitForExit()).code, 0, held.tail());
    const stopMs = performance.now() - started;
    assert.ok(stopMs < 4000, `stopped ${Math.round(stopMs)} ms after TERM`);
    assert.ok(hanging.requests.length > 0, 'the exporter did try the hanging collector');
  });

  test('a message in hand at TERM: handed back in its own trace, and the worker exports the process span of work it finishes while it winds down', async () => {
    const collector = await otlp();
    // The drain gives up at 600 ms and hands the message back; the worker's work ends at 900,
    // while its channels close. Before: the hand-back's traceparent started a new trace (it
    // was published outside any span), and the process span ended after the worker's tracing
    // had shut down, so it was dropped.
    const service = start({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.baseUrl,
      FIXTURE_WORK_MS: '900',
      SHUTDOWN_STEP_TIMEOUT_MS: '600',
    });
    await service.waitFor('ready', 15_000);
    const t = traceparent();
    await observer.publish(queues.input, [JSON.stringify({ id: 'in-hand', text: 'x' })], () => ({
      messageId: 'in-hand',
      headers: { traceparent: t.header },
    }));
    await service.waitFor((l) => l.msg === 'message taken' && l['messageId'] === 'in-hand');
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
    assert.ok(
      service.lines.some((l) => l.msg === 'drain timed out; unfinished messages handed back'),
      service.tail(),
    );
    const [back] = await observer.collect(queues.input, (r) => r.length >= 1);
    assert.equal(
      headerOf(back!, 'traceparent').split('-')[1],
      t.traceId,
      'the hand-back stays in the trace',
    );
    const names = collector.spans.filter((s) => s.traceId === t.traceId).map((s) => s.name);
    assert.ok(names.includes(`process ${queues.input}`), `spans of the trace: ${names.join(', ')}`);
  });

  test('a message whose handler is stuck past AMQP_MESSAGE_TIMEOUT_MS: the error line carries its trace ids', async () => {
    // The sweep that finds it runs on a timer, outside the message's span: the line had no
    // trace_id, so the error could not be found from the trace.
    const collector = await otlp();
    const service = start({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.baseUrl,
      AMQP_MESSAGE_TIMEOUT_MS: '1000',
      SHUTDOWN_STEP_TIMEOUT_MS: '500',
    });
    await service.waitFor('ready', 15_000);
    const t = traceparent();
    await observer.publish(queues.input, [JSON.stringify({ stall: true })], () => ({
      messageId: 'stuck-traced',
      headers: { traceparent: t.header },
    }));
    assert.equal((await service.waitForExit(20_000)).code, 70, service.tail());
    const stuck = service.lines.find((l) => l.msg === 'application error');
    assert.match(JSON.stringify(stuck?.['err']), /message stuck-traced from \S+ has been in hand/);
    assert.equal(stuck?.['trace_id'], t.traceId, service.tail());
    assert.match(String(stuck?.['span_id']), /^[0-9a-f]{16}$/);
  });

  test('an unreachable collector changes nothing but the flush: every result arrives, and TERM waits for the flush timeout at most', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const service = start({ OTEL_EXPORTER_OTLP_ENDPOINT: closed, TRACING_FLUSH_TIMEOUT_MS: '500' });
    await service.waitFor('ready', 15_000);
    const ids = Array.from({ length: 50 }, (_, i) => `lost-${i}`);
    await observer.publish(
      queues.input,
      ids.map((id) => JSON.stringify({ id, text: id })),
      (i) => ({ messageId: ids[i], headers: { traceparent: traceparent().header } }),
    );
    const results = await observer.collect(queues.results, (r) => r.length >= ids.length);
    assert.equal(new Set(results.map((r) => String(r.properties.messageId))).size, ids.length);
    const started = performance.now();
    service.signal('SIGTERM');
    assert.equal((await service.waitForExit()).code, 0, service.tail());
    const stopMs = performance.now() - started;
    assert.ok(stopMs < 3000, `stopped in ${Math.round(stopMs)} ms`);
  });
  test('a collector that trickles its answers: each export ends at the flush timeout, and nothing of the exporter outlives the stop', async () => {
    const peer = new HostilePeer({ mode: 'trickle', trickleMs: 200 });
    recorders.push(peer);
    const url = await peer.start();
    const service = start({ OTEL_EXPORTER_OTLP_ENDPOINT: url, TRACING_FLUSH_TIMEOUT_MS: '1000' });
    await service.waitFor('ready', 15_000);
    // Messages in rounds, each round waiting for one more export: every thread exports within a
    // second of having spans, and each export meets an answer that never ends.
    for (let round = 0; peer.requests.length < 12; round++) {
      const ids = Array.from({ length: 5 }, (_, i) => `slow-${round}-${i}`);
      await observer.publish(
        queues.input,
        ids.map((id) => JSON.stringify({ id, text: id })),
        (i) => ({ messageId: ids[i] }),
      );
      await observer.collect(queues.results, (r) => r.length >= ids.length);
      await peer.waitForRequests(peer.requests.length + 1, 5000);
    }
    const exports = peer.requests.length;
    console.log(`# trickle: ${exports} exports, ${peer.open} still open`);
    assert.ok(peer.open <= 6, `${peer.open} of ${exports} exports still open`);

    service.signal('SIGTERM');
    await service.waitFor('shutdown complete', 15_000);
    const completeAt = performance.now();
    const { code } = await service.waitForExit(20_000);
    const heldMs = Math.round(performance.now() - completeAt);
    assert.equal(code, 0, service.tail());
    console.log(`# trickle: exit ${heldMs} ms after 'shutdown complete'`);
    assert.ok(heldMs < 1000, `exit ${heldMs} ms after 'shutdown complete'`);
  });
});
