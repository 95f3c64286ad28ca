/**
 * The metrics API. Components record through `Metrics`; `createMetrics()` gives every sink
 * (InfluxDB, Prometheus) the same figures under the same names. Names follow Prometheus'
 * conventions whatever the caller wrote: snake_case, base units (`_ms` becomes `_seconds`,
 * the value divided by 1000), counters end in `_total`, timings are seconds. Without a sink
 * nothing is recorded (`noopMetrics`). Recording never throws and never blocks: a metrics
 * outage must not hurt the service.
 */

export type MetricTags = Readonly<Record<string, string>>;

export type MetricKind = 'count' | 'gauge' | 'timing';

export interface Metrics {
  /** Adds `value` (default 1) to a counter. */
  count(name: string, value?: number, tags?: MetricTags): void;
  /** Records the current value of something (queue depth, thread count). */
  gauge(name: string, value: number, tags?: MetricTags): void;
  /** Records a duration given in milliseconds (stored in seconds, as a histogram). */
  timing(name: string, ms: number, tags?: MetricTags): void;
  /**
   * Runs `collect` before each Prometheus scrape with a recorder that writes to Prometheus
   * alone, for gauges read on demand (thread counts, in-flight work). Absent when Prometheus
   * is off; `collect` must be quick and synchronous.
   */
  onScrape?(collect: (metrics: Metrics) => void): void;
}

/** A destination of normalised figures: name in Prometheus form, value in base units. */
export interface MetricSink {
  record(kind: MetricKind, name: string, value: number, tags: MetricTags | undefined): void;
}

export const noopMetrics: Metrics = {
  count: () => undefined,
  gauge: () => undefined,
  timing: () => undefined,
};

const invalid = /[^a-zA-Z0-9_]/g;

/**
 * The Prometheus form of a figure: `amqp.message.latency` timed in ms becomes
 * `amqp_message_latency_seconds` in seconds; `messages_processed` counted becomes
 * `messages_processed_total`; `event_loop_delay_ms` becomes `event_loop_delay_seconds`.
 */
export function normaliseMetric(
  kind: MetricKind,
  name: string,
  value: number,
): { name: string; value: number } {
  let n = name.replace(invalid, '_');
  if (/^[0-9]/.test(n)) n = `_${n}`;
  let v = value;
  if (n.endsWith('_ms')) {
    n = `${n.slice(0, -3)}_seconds`;
    v = value / 1000;
  } else if (kind === 'timing') {
    v = value / 1000;
    if (!n.endsWith('_seconds')) n = `${n}_seconds`;
  }
  if (kind === 'count' && !n.endsWith('_total')) n = `${n}_total`;
  return { name: n, value: v };
}

/** One `Metrics` feeding every sink; `noopMetrics` when there is none. */
export function createMetrics(
  sinks: readonly MetricSink[],
  scrape?: (collect: (metrics: Metrics) => void) => void,
): Metrics {
  if (sinks.length === 0) return noopMetrics;
  const record = (kind: MetricKind, name: string, value: number, tags?: MetricTags): void => {
    if (!Number.isFinite(value)) return;
    const n = normaliseMetric(kind, name, value);
    for (const sink of sinks) sink.record(kind, n.name, n.value, tags);
  };
  return {
    count: (name, value = 1, tags) => record('count', name, value, tags),
    gauge: (name, value, tags) => record('gauge', name, value, tags),
    timing: (name, ms, tags) => record('timing', name, ms, tags),
    ...(scrape && { onScrape: scrape }),
  };
}
