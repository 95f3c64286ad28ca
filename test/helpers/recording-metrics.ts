import { checkMetric, type MetricTags, type Metrics } from '../../src/lib/telemetry/metrics.js';

/**
 * A Metrics that records what it was given, for tests of what components count. It checks
 * names as the real one does: a name that breaks the convention throws here too.
 */

export interface RecordedMetric {
  type: 'count' | 'gauge' | 'timing';
  name: string;
  value: number;
  tags: MetricTags;
}

export class RecordingMetrics implements Metrics {
  readonly records: RecordedMetric[] = [];

  count(name: string, value = 1, tags: MetricTags = {}): void {
    checkMetric('count', name, tags);
    this.records.push({ type: 'count', name, value, tags });
  }

  gauge(name: string, value: number, tags: MetricTags = {}): void {
    checkMetric('gauge', name, tags);
    this.records.push({ type: 'gauge', name, value, tags });
  }

  timing(name: string, ms: number, tags: MetricTags = {}): void {
    checkMetric('timing', name, tags);
    this.records.push({ type: 'timing', name, value: ms, tags });
  }

  /** Values recorded under `name`, in order. */
  values(name: string): number[] {
    return this.records.filter((r) => r.name === name).map((r) => r.value);
  }
}
