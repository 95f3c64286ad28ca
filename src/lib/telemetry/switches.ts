import type { TelemetryConfig } from './telemetry-config.js';

/**
 * Which telemetry is on, read from the validated config. A file of its own, with a type-only
 * import, so a worker thread can ask without loading the config schema (zod).
 */

/** Prometheus' `/metrics` is served by the health endpoint: on whenever that is. */
export function isPrometheusOn(t: TelemetryConfig): boolean {
  return t.health.port !== 0;
}

/** Tracing is on when an OTLP endpoint is set, the SDK is not disabled and the exporter is otlp. */
export function isTracingOn(t: TelemetryConfig): boolean {
  const { tracing } = t;
  return (
    (tracing.endpoint !== '' || tracing.tracesEndpoint !== '') &&
    !tracing.sdkDisabled &&
    tracing.exporter === 'otlp'
  );
}

/** Whether any metrics sink is on (InfluxDB or Prometheus). */
export function isMetricsOn(t: TelemetryConfig): boolean {
  return t.influx.url !== '' || isPrometheusOn(t);
}
