import { setImmediate as turn } from 'node:timers/promises';
import { context, trace, SpanKind, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  TracerProvider,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { median, round } from './stats.js';
import { startOtlpReceiver } from './otlp-receiver.js';

/**
 * The floor under `tracing_on_ratio`: what OpenTelemetry's JavaScript SDK alone costs per
 * message for the three spans the pipeline records (receive, process, publish, with the
 * messaging attributes), with nothing else of the service around it: one thread, one process,
 * CPU time (process.cpuUsage) per message. Three ways, alternated: no spans (the loop itself),
 * spans through the SDK's BatchSpanProcessor into an exporter that drops them (the SDK's span
 * cost), and the same exporting OTLP/HTTP protobuf to a loopback receiver (what
 * `tracing_on_ratio` measures). Compare with the pipeline's own CPU per message with tracing
 * off (`tracing_off_ratio.serviceCpuUs` in bench/results.json): the target allows 10% of it.
 * Figures for docs/observability.md; not a case.
 *
 * CLI: `node dist/bench/tracing-floor.js [messages] [rounds]`
 */

const messages = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 5);

const dropping: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
  shutdown: () => Promise.resolve(),
};

function providerWith(exporter: SpanExporter): TracerProvider {
  return new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'floor', 'thread.name': 'main' }),
    sampler: new AlwaysOnSampler(),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: 1000,
        maxQueueSize: 4096,
        maxExportBatchSize: 512,
      }),
    ],
  });
}

/** The pipeline's three spans for message `i`, attributes as the service sets them. */
function threeSpans(tracer: Tracer, i: number): void {
  const receive = tracer.startSpan('receive sample.events', { kind: SpanKind.CONSUMER });
  receive.setAttribute('messaging.system', 'rabbitmq');
  receive.setAttribute('messaging.operation.type', 'receive');
  receive.setAttribute('messaging.destination.name', 'sample.events');
  receive.setAttribute('messaging.message.id', `m-${i}`);
  receive.setAttribute('messaging.message.conversation_id', `c-${i}`);
  const inReceive = trace.setSpan(context.active(), receive);
  const process = tracer.startSpan('process sample.events', { kind: SpanKind.CONSUMER }, inReceive);
  process.setAttribute('messaging.system', 'rabbitmq');
  process.setAttribute('messaging.operation.type', 'process');
  process.setAttribute('thread.name', 'processor');
  process.end();
  const publish = tracer.startSpan('send sample.results', { kind: SpanKind.PRODUCER }, inReceive);
  publish.setAttribute('messaging.system', 'rabbitmq');
  publish.setAttribute('messaging.operation.type', 'send');
  publish.setAttribute('messaging.destination.name', 'sample.results');
  publish.end();
  receive.end();
}

/** CPU µs per message of `messages` iterations, yielding a turn every 100 (as I/O would). */
async function cpuPerMessage(each: (i: number) => void): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < messages; i++) {
    each(i);
    if (i % 100 === 99) await turn();
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / messages;
}

const receiver = await startOtlpReceiver();
const url = `${receiver.url}/v1/traces`;
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const ways = {
  none: { figures: [] as number[], run: () => cpuPerMessage(() => undefined) },
  sdkSpans: {
    figures: [] as number[],
    run: async () => {
      const provider = providerWith(dropping);
      const tracer = provider.getTracer('floor');
      const us = await cpuPerMessage((i) => threeSpans(tracer, i));
      await provider.shutdown();
      return us;
    },
  },
  sdkSpansExported: {
    figures: [] as number[],
    run: async () => {
      const provider = providerWith(new OTLPTraceExporter({ url }));
      const tracer = provider.getTracer('floor');
      // The export's own CPU happens partly after the loop: counted until the flush is done.
      const start = process.cpuUsage();
      await cpuPerMessage((i) => threeSpans(tracer, i));
      await provider.forceFlush();
      const used = process.cpuUsage(start);
      await provider.shutdown();
      return (used.user + used.system) / messages;
    },
  },
};

for (let round = 0; round < rounds; round++) {
  for (const way of Object.values(ways)) way.figures.push(await way.run());
}
await receiver.close();
const result = Object.fromEntries(
  Object.entries(ways).map(([name, way]) => [name, round(median(way.figures), 1)]),
);
console.log(
  JSON.stringify({ messages, rounds, cpuUsPerMessage: result, otlpBytes: receiver.bytes() }),
);
