import { noopMetrics, type MetricTags, type Metrics } from '../telemetry/metrics.js';

/**
 * The process's one metrics sink, built before everything that records: it forwards to the
 * sinks the `telemetry` config starts (`attach`, once, early in start-up) and records nothing
 * before then. Scrape collectors registered before `attach` are handed on to Prometheus when
 * it is on, and dropped when it is off.
 */
export class MetricsRelay implements Metrics {
  #target: Metrics = noopMetrics;
  #collectors: Array<(metrics: Metrics) => void> | undefined = [];

  /** Forwards everything from now on to `target`. Once. */
  attach(target: Metrics): void {
    if (this.#collectors === undefined) throw new Error('metrics are already attached');
    this.#target = target;
    for (const collect of this.#collectors) target.onScrape?.(collect);
    this.#collectors = undefined;
  }

  count(name: string, value?: number, tags?: MetricTags): void {
    this.#target.count(name, value, tags);
  }

  gauge(name: string, value: number, tags?: MetricTags): void {
    this.#target.gauge(name, value, tags);
  }

  timing(name: string, ms: number, tags?: MetricTags): void {
    this.#target.timing(name, ms, tags);
  }

  onScrape(collect: (metrics: Metrics) => void): void {
    if (this.#collectors === undefined) this.#target.onScrape?.(collect);
    else this.#collectors.push(collect);
  }
}
