import { hostname } from 'node:os';
import type { Logger } from '../primitives/log.js';
import type { CoreConfig } from './core-config.js';
import type { HealthChecks } from '../health.js';
import type { ErrorReporters } from '../primitives/process-control.js';
import type { ShutdownCoordinator } from '../lifecycle/shutdown-coordinator.js';
import type { Nanny, ThreadReport } from '../threads/nanny.js';
import type { JobRunMonitor } from '../schedule.js';
import { createMetrics, type MetricSink, type Metrics } from '../telemetry/metrics.js';
import { isPrometheusOn, isTracingOn } from '../telemetry/switches.js';
import type { PrometheusMetrics } from '../telemetry/prometheus.js';
import type { SentryHandle } from '../telemetry/sentry.js';
import type { CronitorPinger } from '../telemetry/cronitor.js';
import { HealthServer } from '../telemetry/health-server.js';
import { startLoopDelayProbe } from '../primitives/loop-delay.js';
import { sleep } from '../primitives/waits.js';

/**
 * Wires the main thread's observability from the `telemetry` config: Sentry, InfluxDB metrics,
 * cronitor pings, the health endpoint, and the thread vitals (from the nanny's reports) as
 * metrics. Each part is off while its setting is empty. Everything it starts is flushed and
 * closed by one bounded 'flush telemetry' step; `flushBeforeExit()` serves the exit paths
 * that skip the steps (the shutdown deadline, a second signal). Client libraries are loaded
 * only when their integration is on (@sentry/node alone costs ~300 ms and ~20 MB of heap).
 */

export interface ObservabilityOptions {
  config: CoreConfig;
  log: Logger;
  coordinator: ShutdownCoordinator;
  nanny: Nanny;
  reporters: ErrorReporters;
  health: HealthChecks;
}

export interface Observability {
  /** The metrics sink for `runtime.metrics` (no-op when InfluxDB is off). */
  readonly metrics: Metrics;
  /** Per-run job pings (cronitor), when on. */
  readonly jobMonitor: JobRunMonitor | undefined;
  /** The health endpoint, when on (its bound address is there for tests and logs). */
  readonly healthServer: HealthServer | undefined;
  /** Call once the service is ready: readiness turns true, cronitor gets `run`. */
  started(): void;
  /** Flushes error reports with a bounded wait; for exits that skip the shutdown steps. */
  flushBeforeExit(): Promise<void>;
}

/** Starts what is configured. Rejects only when the health port cannot be bound. */
export async function startObservability(options: ObservabilityOptions): Promise<Observability> {
  const { config, log, coordinator, nanny, health } = options;
  const t = config.telemetry;
  /** What the flush phase closes, each with the bound it keeps to. */
  const closers: Array<{ close: () => Promise<void>; timeoutMs: number }> = [];

  let sentry: SentryHandle | undefined;
  if (t.sentry.dsn !== '') {
    const { startSentry } = await import('../telemetry/sentry.js');
    sentry = startSentry({
      dsn: t.sentry.dsn,
      app: config.app.name,
      thread: 'main',
      release: config.app.version,
      environment: config.app.environment,
      ignore: t.sentry.ignore,
      flushTimeoutMs: t.sentry.flushTimeoutMs,
      log,
    });
    options.reporters.add(sentry.report);
    const handle = sentry;
    closers.push({ close: () => handle.close(), timeoutMs: t.sentry.flushTimeoutMs });
    log.info({ release: config.app.version }, 'sentry error reports on');
  }

  if (isTracingOn(t)) {
    const { startTracing } = await import('../telemetry/tracing.js');
    const tracing = startTracing({
      tracing: t.tracing,
      app: config.app.name,
      version: config.app.version,
      environment: config.app.environment,
      thread: 'main',
      log,
    });
    closers.push({ close: () => tracing.close(), timeoutMs: t.tracing.flushTimeoutMs });
  }

  const sinks: MetricSink[] = [];
  if (t.influx.url !== '') {
    const { InfluxMetrics } = await import('../telemetry/influx-metrics.js');
    const influx = new InfluxMetrics({
      ...t.influx,
      tags: { app: config.app.name, host: hostname() },
      log,
    });
    influx.start();
    sinks.push(influx);
    closers.push({
      close: () => {
        const elapsed = coordinator.elapsedMs;
        if (elapsed !== undefined) metrics.timing('shutdown_duration_seconds', elapsed);
        return influx.close();
      },
      timeoutMs: t.influx.flushTimeoutMs,
    });
  }
  // The main thread's event-loop delay, for its liveness, its vitals and Prometheus.
  const mainLoop = startLoopDelayProbe();
  let prometheus: PrometheusMetrics | undefined;
  if (isPrometheusOn(t)) {
    const { PrometheusMetrics } = await import('../telemetry/prometheus.js');
    prometheus = new PrometheusMetrics({
      log,
      threadSnapshots: () => nanny.metricsSnapshots(scrapeThreadTimeoutMs),
      loopDelay: mainLoop,
    });
    prometheus.start();
    sinks.push(prometheus);
  }
  const prom = prometheus;
  const metrics = createMetrics(sinks, prom && ((collect) => prom.onScrape(collect)));
  recordShutdownSteps(coordinator, metrics);
  metrics.onScrape?.((m) => recordThreads(m, nanny.report()));

  let cronitor: CronitorPinger | undefined;
  if (t.cronitor.apiKey !== '') {
    const { CronitorPinger } = await import('../telemetry/cronitor.js');
    cronitor = new CronitorPinger({
      ...t.cronitor,
      app: config.app.name,
      environment: config.app.environment,
      log,
    });
    cronitor.start();
    const pinger = cronitor;
    closers.push({ close: () => pinger.close(), timeoutMs: t.cronitor.timeoutMs });
  }

  // The main thread's own vitals, next to the workers' (sent with their heartbeats).
  let mainLoopDelayMs = 0;
  const sample = setInterval(() => {
    mainLoopDelayMs = mainLoop.take();
  }, config.threads.heartbeatMs);
  sample.unref();
  closers.push({
    close: () => {
      clearInterval(sample);
      mainLoop.stop();
      return Promise.resolve();
    },
    timeoutMs: 0,
  });
  health.addLiveness('eventLoop', () => ({
    ok: mainLoopDelayMs <= t.health.maxLoopDelayMs,
    detail: { mainLoopDelayMs, maxLoopDelayMs: t.health.maxLoopDelayMs },
  }));
  let isStarted = false;
  health.addReadiness('started', () => ({ ok: isStarted }));

  nanny.onReport((report) => {
    recordThreadReport(metrics, report, mainLoopDelayMs);
    cronitor?.threadReport(report);
  });

  let healthServer: HealthServer | undefined;
  if (t.health.port !== 0) {
    healthServer = new HealthServer({
      port: t.health.port,
      host: t.health.host,
      health,
      log,
      ...(prom && { metrics: () => prom.exposition() }),
    });
    const server = healthServer;
    // Open until the close phase: readiness reads false from the moment shutdown starts.
    coordinator.addStep({
      name: 'close health endpoint',
      phase: 'close',
      run: () => server.close(),
    });
    await server.start();
  }

  // The integrations that are on close together, each within its own bound: the step's is the
  // longest (the coordinator keeps it free of the steps before; an integration that is off
  // takes none of the deadline).
  const flushTimeoutMs = Math.max(...closers.map((closer) => closer.timeoutMs));
  coordinator.addStep({
    name: 'flush telemetry',
    phase: 'flush',
    timeoutMs: flushTimeoutMs + 500,
    run: async () => {
      const results = await Promise.allSettled(closers.map((closer) => closer.close()));
      for (const r of results) {
        if (r.status === 'rejected') log.warn({ err: r.reason }, 'telemetry close failed');
      }
    },
  });

  return {
    metrics,
    jobMonitor: cronitor,
    healthServer,
    started: () => {
      isStarted = true;
      // Registered last, so it runs first in 'stop-intake' (last registered, first run):
      // readiness is false from the shutdown's start, and intake stops only after the delay.
      if (t.health.readinessDelayMs > 0) addReadinessDelay(coordinator, t.health.readinessDelayMs);
      // Loading modules and starting threads blocks the loop; that is not a stall.
      mainLoop.take();
      mainLoopDelayMs = 0;
      cronitor?.serviceStarted(nanny.report().alive);
    },
    // Past the deadline or after a second signal the exit is already late: one second at most.
    flushBeforeExit: async () => {
      await sentry?.flush(Math.min(t.sentry.flushTimeoutMs, 1000));
    },
  };
}

/**
 * On a requested stop, waits `delayMs` before the rest of 'stop-intake', so a load balancer or
 * orchestrator that reads `/readyz` stops routing before the service stops taking work. A
 * failure skips it, or ends it when it comes during the wait: a broken service should stop
 * taking work at once.
 */
export function addReadinessDelay(coordinator: ShutdownCoordinator, delayMs: number): void {
  coordinator.addStep({
    name: 'readiness delay',
    phase: 'stop-intake',
    timeoutMs: delayMs + 1000,
    run: async () => {
      await sleep(delayMs, coordinator.failed);
    },
  });
}

/** How long a scrape waits for a worker thread's runtime figures. */
const scrapeThreadTimeoutMs = 500;

/** The nanny's thread counts. */
function recordThreads(metrics: Metrics, report: ThreadReport): void {
  metrics.gauge('threads_expected', report.expected);
  metrics.gauge('threads_alive', report.alive);
  metrics.gauge('threads_missing', report.missing.length);
}

/** Each shutdown phase's duration so far (its steps run one after another), as a gauge. */
function recordShutdownSteps(coordinator: ShutdownCoordinator, metrics: Metrics): void {
  const phases = new Map<string, number>();
  coordinator.onStepFinished((step) => {
    const ms = (phases.get(step.phase) ?? 0) + step.durationMs;
    phases.set(step.phase, ms);
    metrics.gauge('shutdown_phase_duration_seconds', ms / 1000, { phase: step.phase });
  });
}

/** Thread count, missing threads and per-thread vitals as gauges, tagged by thread. */
function recordThreadReport(metrics: Metrics, report: ThreadReport, mainLoopDelayMs: number) {
  recordThreads(metrics, report);
  metrics.gauge('thread_event_loop_delay_seconds', mainLoopDelayMs / 1000, { thread: 'main' });
  metrics.gauge('thread_heap_used_bytes', process.memoryUsage().heapUsed, { thread: 'main' });
  for (const [thread, vitals] of Object.entries(report.vitals)) {
    // Zeros until the worker's first heartbeat: no measurement yet, nothing to record.
    if (vitals.heapUsedBytes === 0) continue;
    metrics.gauge('thread_event_loop_delay_seconds', vitals.loopDelayMs / 1000, { thread });
    metrics.gauge('thread_heap_used_bytes', vitals.heapUsedBytes, { thread });
  }
}
