import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import type { Logger } from '../primitives/log.js';
import { samplerRatio, type TelemetryConfig } from './telemetry-config.js';
import { installTraceImpl } from './trace-context.js';
import { otelTraceImpl } from './otel-context.js';
import { timedOut, withTimeout } from '../primitives/waits.js';
import { createDeadlineAgent, type DeadlineAgent } from './deadline-agent.js';

/**
 * This thread's OpenTelemetry tracer provider, and the only file that imports the SDK: spans
 * are batched and exported with OTLP over HTTP (protobuf, or JSON) to the collector that OpenTelemetry's
 * standard variables name (`OTEL_EXPORTER_OTLP_ENDPOINT`, `..._TRACES_ENDPOINT`; the exporter
 * reads `..._TIMEOUT` and `..._COMPRESSION` itself; the headers come from the config). Every
 * thread has its own provider and exporter (a worker's spans are exported from the worker),
 * registered as the global one: @sentry/node is told not to set its own up, so there is one
 * provider per thread. Export runs in the background; a collector that is down or hangs costs
 * dropped spans, never a wait: `close()` is bounded.
 */

export interface TracingOptions {
  tracing: TelemetryConfig['tracing'];
  app: string;
  version: string;
  environment: string;
  thread: string;
  log: Logger;
}

export interface TracingHandle {
  /** Exports what is batched and shuts the provider down, at most `timeoutMs`. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
}

/** The sampler named by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`. */
export function samplerOf(name: string, arg: string): Sampler {
  const ratio = samplerRatio(arg) ?? 1; // the config refused any other
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** Starts this thread's provider and registers it. Call once per thread. */
export function startTracing(options: TracingOptions): TracingHandle {
  const { tracing } = options;
  const log = options.log.child({ component: 'tracing' });
  const url =
    tracing.tracesEndpoint !== ''
      ? tracing.tracesEndpoint
      : `${tracing.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const protocol = tracing.tracesProtocol === '' ? tracing.protocol : tracing.tracesProtocol;
  // The export timeout bounds a hanging collector's hold on the process, too.
  // The exporter reads OTEL_EXPORTER_OTLP_HEADERS too; these came through the config's checks
  // (and from a `_FILE`, which it does not read).
  const headers = { ...tracing.headers, ...tracing.tracesHeaders };
  // Each export ends at the flush timeout, answered or not, on a socket of its own: the
  // exporter's timeout is the socket's idle time, and a collector answering a byte every 500 ms
  // held every export open (30, its limit: no span exported after that) and, past the stop, the
  // process to its deadline (124). close() ends what is still open.
  let sockets: DeadlineAgent | undefined;
  const exporterOptions = {
    url,
    timeoutMillis: tracing.flushTimeoutMs,
    headers,
    httpAgentOptions: (protocol: string) =>
      (sockets ??= createDeadlineAgent(protocol, tracing.flushTimeoutMs)).agent,
  };
  const exporter =
    protocol === 'http/json'
      ? new JsonExporter(exporterOptions)
      : new ProtobufExporter(exporterOptions);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': tracing.serviceName === '' ? options.app : tracing.serviceName,
      'service.version': options.version,
      'deployment.environment.name': options.environment,
      'process.pid': process.pid,
      'thread.name': options.thread,
    }),
    sampler: samplerOf(tracing.sampler, tracing.samplerArg),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: 1000,
        exportTimeoutMillis: Math.max(tracing.flushTimeoutMs, 1000),
        maxQueueSize: 4096,
        maxExportBatchSize: 512,
      }),
    ],
  });
  const contextManager = new AsyncLocalStorageContextManager();
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!trace.setGlobalTracerProvider(provider)) {
    log.warn('another OpenTelemetry tracer provider is registered; spans go there');
  }
  installTraceImpl(otelTraceImpl);
  if (options.thread === 'main') {
    log.info({ url, protocol, sampler: tracing.sampler }, 'tracing on');
  }

  let closing: Promise<void> | undefined;
  const close = (timeoutMs = tracing.flushTimeoutMs): Promise<void> => {
    closing ??= (async () => {
      const exported = provider.shutdown().catch((error: unknown) => {
        log.debug({ err: error }, 'span export failed at shutdown');
      });
      if ((await withTimeout(exported, timeoutMs)) === timedOut)
        log.warn({ timeoutMs }, 'spans not exported within the flush timeout');
      sockets?.close();
    })();
    return closing;
  };
  return { close };
}
