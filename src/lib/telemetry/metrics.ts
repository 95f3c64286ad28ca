/**
 * The metrics seam. Components record through this small interface; the InfluxDB
 * integration provides the real one, and without it nothing is sent (`noopMetrics`).
 * Recording never throws and never blocks: a metrics outage must not hurt the service.
 */

export type MetricTags = Readonly<Record<string, string>>;

export interface Metrics {
  /** Adds `value` (default 1) to a counter. */
  count(name: string, value?: number, tags?: MetricTags): void;
  /** Records the current value of something (queue depth, thread count). */
  gauge(name: string, value: number, tags?: MetricTags): void;
  /** Records a duration in milliseconds. */
  timing(name: string, ms: number, tags?: MetricTags): void;
}

export const noopMetrics: Metrics = {
  count: () => undefined,
  gauge: () => undefined,
  timing: () => undefined,
};
