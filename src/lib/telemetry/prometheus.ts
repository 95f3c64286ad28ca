import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';
import type { Logger } from '../primitives/log.js';
import { loopDelayProbeMs, type LoopDelayProbe } from '../primitives/loop-delay.js';
import { maxTimerMs } from '../primitives/waits.js';
import {
  MetricNameError,
  createMetrics,
  type MetricKind,
  type MetricSink,
  type MetricTags,
  type Metrics,
} from './metrics.js';
import type { MetricsExposition } from './health-server.js';

/**
 * Prometheus metrics (prom-client), and the only file that imports it. The main thread's
 * registry holds its own process and runtime figures and every figure recorded through the
 * metrics API (workers' included, labelled by thread). prom-client aggregates across the
 * cluster module only, so each worker thread keeps a registry of its own runtime figures
 * (`ThreadRuntimeMetrics`), and at each scrape the main thread asks every running worker for
 * a snapshot over its control port and merges them, each labelled `thread`. A worker that does
 * not answer within the bound is left out of that scrape.
 */

type Snapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Seconds; from a millisecond of work to a minute. */
const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Default figures that are left out: gauges named `_total` (Prometheus keeps that suffix for
 * counters; promtool says so), and in worker threads the process-wide ones, which the main
 * thread already reports (a worker's `process.cpuUsage()` is the whole process's).
 */
function keep(name: string, type: string, isWorker: boolean): boolean {
  if (type === 'gauge' && name.endsWith('_total')) return false;
  return !(isWorker && (name.startsWith('process_') || name === 'nodejs_version_info'));
}

/** prom-client's figures of its event-loop histogram, by the statistic each one reads. */
const loopLag = {
  min: 'nodejs_eventloop_lag_min_seconds',
  max: 'nodejs_eventloop_lag_max_seconds',
  mean: 'nodejs_eventloop_lag_mean_seconds',
  stddev: 'nodejs_eventloop_lag_stddev_seconds',
  p50: 'nodejs_eventloop_lag_p50_seconds',
  p90: 'nodejs_eventloop_lag_p90_seconds',
  p99: 'nodejs_eventloop_lag_p99_seconds',
} as const;

/**
 * The event-loop figures under prom-client's names, from the thread's loop-delay probe: how
 * late its timer ran, since the last scrape. prom-client's own histogram (Node's
 * `monitorEventLoopDelay`) would wake the thread 100 times a second beside the probe, and it
 * reads the whole interval between its runs, 10 ms at idle.
 */
function collectLoopLag(registry: Registry, thread: string, probe: LoopDelayProbe): void {
  type Stat = keyof typeof loopLag;
  const samples = probe.samples();
  const read = (stat: Stat): number =>
    stat === 'p50' || stat === 'p90' || stat === 'p99'
      ? samples.percentile(Number(stat.slice(1)))
      : samples[stat];
  const gauges = new Map<Stat, Gauge>();
  // The first gauge's collect sets them all, then starts the next window.
  const collect = (): void => {
    if (samples.count === 0) return; // no run of the probe since the last scrape: keep the last
    for (const [stat, gauge] of gauges) gauge.set({ thread }, read(stat) / 1e9);
    samples.reset();
  };
  for (const [stat, name] of Object.entries(loopLag) as Array<[Stat, string]>) {
    const help = `The ${stat} of the event loop's delays since the last scrape, in seconds: how late a timer due every ${String(loopDelayProbeMs)} ms ran.`;
    const first = gauges.size === 0;
    const gauge = new Gauge({
      name,
      help,
      labelNames: ['thread'],
      registers: [registry],
      ...(first && { collect }),
    });
    gauges.set(stat, gauge);
  }
}

/** Seconds; from a millisecond late (an idle loop) to a block of ten seconds. */
const loopDelayBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Every run of the loop-delay probe as a cumulative histogram. The `nodejs_eventloop_lag_*`
 * gauges are prom-client's figures "since the last scrape": every reader of `/metrics` (a second
 * Prometheus, an operator's curl) starts their window anew, and a stall it read was gone for the
 * scraper that counts. A histogram's buckets only grow: `rate()` and `histogram_quantile()` read
 * the same whoever else scrapes.
 */
function collectLoopDelayHistogram(
  registry: Registry,
  thread: string,
  probe: LoopDelayProbe,
): void {
  const histogram = new Histogram({
    name: 'nodejs_eventloop_delay_seconds',
    help: `How late a timer due every ${String(loopDelayProbeMs)} ms ran, in seconds: every run of the thread's loop-delay probe, cumulative.`,
    labelNames: ['thread'],
    buckets: loopDelayBuckets,
    registers: [registry],
  });
  const child = histogram.labels({ thread });
  probe.onSample((lateMs) => child.observe(lateMs / 1000));
}

/** Default metrics, labelled by thread, plus this thread's own CPU time. */
function collectRuntime(
  registry: Registry,
  thread: string,
  isWorker: boolean,
  probe: LoopDelayProbe,
): void {
  // prom-client's event-loop histogram with a resolution it never reaches: off (its figures
  // come from the probe, below); its `nodejs_eventloop_lag_seconds`, one setImmediate at each
  // scrape, stays.
  collectDefaultMetrics({
    register: registry,
    labels: { thread },
    eventLoopMonitoringPrecision: maxTimerMs,
  });
  const fromProbe = new Set<string>(Object.values(loopLag));
  for (const metric of registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    if (!keep(name, type, isWorker) || fromProbe.has(name)) registry.removeSingleMetric(name);
  }
  collectLoopLag(registry, thread, probe);
  collectLoopDelayHistogram(registry, thread, probe);
  new Counter({
    name: 'thread_cpu_seconds_total',
    help: 'CPU time (user and system) used by this thread, in seconds.',
    labelNames: ['thread'],
    registers: [registry],
    collect() {
      const usage = process.threadCpuUsage();
      this.reset();
      this.inc({ thread }, (usage.user + usage.system) / 1e6);
    },
  });
}

interface Entry {
  kind: MetricKind;
  labelNames: string[];
  metric: Counter | Gauge | Histogram;
}

export interface PrometheusMetricsOptions {
  log: Logger;
  /** Snapshots of the worker threads' runtime registries (see `ThreadRuntimeMetrics`). */
  threadSnapshots: () => Promise<unknown[][]>;
  /** The main thread's loop-delay probe, for the event-loop figures. */
  loopDelay: LoopDelayProbe;
}

/** The main thread's registry and the `/metrics` exposition. */
export class PrometheusMetrics implements MetricSink {
  readonly #registry = new Registry();
  readonly #entries = new Map<string, Entry>();
  readonly #collectors: Array<(metrics: Metrics) => void> = [];
  readonly #refused = new Set<string>();
  readonly #options: PrometheusMetricsOptions;
  readonly #log: Logger;
  readonly #direct: Metrics;
  #started = false;

  constructor(options: PrometheusMetricsOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'prometheus' });
    // The scrape collectors' recorder: the same checks and units as every sink's, here alone.
    this.#direct = createMetrics([this]);
  }

  /** Starts collecting the main thread's runtime figures. Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    collectRuntime(this.#registry, 'main', false, this.#options.loopDelay);
  }

  /**
   * Records a figure checked by `createMetrics()` under its name as given (Prometheus' form
   * already: nothing is rewritten here); a metric is made on first use, its
   * label names fixed then (plus `thread`, `main` unless given). A figure that does not fit
   * (another kind or other labels under a name already used) is dropped, logged once.
   */
  record(kind: MetricKind, name: string, value: number, tags: MetricTags | undefined): void {
    const labels: Record<string, string> = { thread: 'main', ...tags };
    try {
      const entry = this.#entry(kind, name, Object.keys(labels).sort());
      if (entry.metric instanceof Counter) entry.metric.inc(labels, value);
      else if (entry.metric instanceof Gauge) entry.metric.set(labels, value);
      else entry.metric.observe(labels, value);
    } catch (error) {
      if (this.#refused.has(name)) return;
      this.#refused.add(name);
      this.#log.warn({ err: error, metric: name, kind }, 'metric not recorded in Prometheus');
    }
  }

  /** Runs `collect` before each scrape, with a recorder that writes here alone. */
  onScrape(collect: (metrics: Metrics) => void): void {
    this.#collectors.push(collect);
  }

  /** The exposition of every thread's figures, for `GET /metrics`. */
  async exposition(): Promise<MetricsExposition> {
    for (const collect of this.#collectors) {
      try {
        collect(this.#direct);
      } catch (error) {
        // A bad name fails the scrape (a 500, a warning): the first test that scrapes sees it.
        if (error instanceof MetricNameError) throw error;
        this.#log.debug({ err: error }, 'scrape collector failed');
      }
    }
    const [own, threads] = await Promise.all([
      this.#registry.getMetricsAsJSON(),
      this.#options.threadSnapshots(),
    ]);
    // Every value carries its thread label, so nothing is summed: 'first' keeps each as is.
    const all = [own, ...(threads as Snapshot[])].map((list) =>
      list.map((m) => ({ ...m, aggregator: 'first' as const })),
    );
    const merged = AggregatorRegistry.aggregate(all);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  #entry(kind: MetricKind, name: string, labelNames: string[]): Entry {
    const known = this.#entries.get(name);
    if (known !== undefined) {
      if (known.kind !== kind || known.labelNames.join() !== labelNames.join()) {
        throw new Error(
          `${name} is a ${known.kind} with labels ${known.labelNames.join(',')}; got a ${kind} with ${labelNames.join(',')}`,
        );
      }
      return known;
    }
    const common = { name, labelNames, registers: [this.#registry] };
    const help = `${name.replaceAll('_', ' ')} (recorded through the metrics API).`;
    const metric =
      kind === 'count'
        ? new Counter({ ...common, help })
        : kind === 'gauge'
          ? new Gauge({ ...common, help })
          : new Histogram({ ...common, help, buckets });
    const entry: Entry = { kind, labelNames, metric };
    this.#entries.set(name, entry);
    return entry;
  }
}

/** A worker thread's own runtime figures, sent to the main thread's registry on request. */
export class ThreadRuntimeMetrics {
  readonly #registry = new Registry();
  readonly #thread: string;
  readonly #loopDelay: LoopDelayProbe;

  constructor(thread: string, loopDelay: LoopDelayProbe) {
    this.#thread = thread;
    this.#loopDelay = loopDelay;
  }

  /** Starts collecting (GC observers, the event-loop figures). Call once. */
  start(): void {
    collectRuntime(this.#registry, this.#thread, true, this.#loopDelay);
  }

  /** The current figures as plain data (structured-clone safe). */
  snapshot(): Promise<unknown[]> {
    return this.#registry.getMetricsAsJSON();
  }
}
