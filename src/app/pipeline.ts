import {
  currentCorrelationId,
  currentTraceparent,
  handleError,
  type Logger,
  type ManagedSocket,
  type Metrics,
  type ProcessControl,
  type ThreadChannel,
} from '../lib/index.js';
import type { SampleEvent, SampleResult } from './events.js';
import type { ProcessContract, StatsContract } from './protocol.js';
import type { HttpNotifier } from './notifier.js';

/**
 * The main thread's part of the sample pipeline: has the processor worker do the work for an
 * event, publishes the result on the ZeroMQ PUB socket (topic `results`, frames
 * [topic, correlation id, JSON, traceparent ('' when tracing is off)]) and tells the stats worker. Two ways in: `handle()` for the
 * broker consumer (resolves with the result, throws typed errors for the consumer to classify)
 * and `accept()` for the producer demo (fire and forget, tracked so shutdown can drain it).
 */

export interface SamplePipelineOptions {
  log: Logger;
  control: ProcessControl;
  processor: ThreadChannel<ProcessContract>;
  stats: ThreadChannel<StatsContract>;
  publisher: ManagedSocket;
  /** Told of each result when the `sampleNotify` flag is on. */
  notifier?: HttpNotifier;
  metrics: Metrics;
}

export const resultsTopic = 'results';

/** The outcome labels, made once (a metric call per event). */
const processedTags = { outcome: 'processed' } as const;
const failedTags = { outcome: 'failed' } as const;

/** How often noted latencies go to the stats worker, at most. */
const latencyNoteIntervalMs = 250;

export class SamplePipeline {
  readonly #options: SamplePipelineOptions;
  readonly #log: Logger;
  readonly #inFlight = new Set<Promise<void>>();
  /** ZeroMQ allows one send in progress per socket (EBUSY otherwise): sends are chained. */
  #lastSend: Promise<void> = Promise.resolve();
  /** Latencies not yet sent to the stats worker (see #noteLatency). */
  #latencies: number[] = [];
  #latencyTimer: NodeJS.Timeout | undefined;
  #processed = 0;
  #failed = 0;

  constructor(options: SamplePipelineOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'pipeline' });
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  get processed(): number {
    return this.#processed;
  }

  get failed(): number {
    return this.#failed;
  }

  /** Takes an event and returns at once; the work goes on in the background, tracked. */
  accept(event: SampleEvent): void {
    this.#log.debug({ eventId: event.id }, 'event accepted');
    const work = this.handle(JSON.stringify(event)).then(
      (result) => {
        const { digest } = JSON.parse(result.json) as { digest: string };
        this.#log.info({ eventId: result.eventId, digest: digest.slice(0, 12) }, 'event processed');
      },
      (error: unknown) => {
        handleError(error, { name: 'pipeline', log: this.#log, control: this.#options.control });
      },
    );
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  /**
   * Processes one event, given as JSON text, and publishes its result on ZeroMQ. Resolves
   * with the result's event id and JSON text; rejects with the processor's error, rebuilt
   * (classify() works on it): a PermanentError for poison.
   */
  async handle(
    json: string,
    options: { messageId?: string; attempt?: number } = {},
    deliver?: (result: { eventId: string; json: string }) => Promise<void>,
  ): Promise<{ eventId: string; json: string }> {
    const started = performance.now();
    this.#options.metrics.count('pipeline_events_received_total');
    try {
      const { messageId, attempt } = options;
      const result = await this.#options.processor.request({ json, messageId, attempt });
      const correlationId = currentCorrelationId() ?? '';
      // The ZeroMQ copy and the caller's delivery (the broker's results queue) go out together.
      await Promise.all([
        this.#send([resultsTopic, correlationId, result.json, currentTraceparent()]),
        deliver?.(result),
      ]);
      const latencyMs = Math.round(performance.now() - started);
      this.#noteLatency(latencyMs);
      const { notifier } = this.#options;
      if (notifier !== undefined) {
        await notifier.notify(JSON.parse(result.json) as SampleResult, correlationId);
      }
      this.#processed++;
      this.#options.metrics.count('pipeline_events_total', 1, processedTags);
      this.#options.metrics.timing('pipeline_processing_seconds', latencyMs);
      // Guarded: the fields object would be made for every event even with debug off.
      if (this.#log.isLevelEnabled('debug')) {
        this.#log.debug({ eventId: result.eventId, attempt, latencyMs }, 'event handled');
      }
      return result;
    } catch (error) {
      this.#failed++;
      this.#options.metrics.count('pipeline_events_total', 1, failedTags);
      throw error;
    }
  }

  /**
   * Resolves when every event taken by `accept()` so far is done, and the stats worker has been
   * sent every latency noted so far (it stops after this step).
   */
  async drain(): Promise<void> {
    if (this.#inFlight.size > 0) this.#log.info({ inFlight: this.#inFlight.size }, 'draining');
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    this.#sendLatencies();
  }

  /**
   * Latencies go to the stats worker in one note per quarter second: each note wakes that
   * thread, and under load a note per event-loop turn meant about one wake-up per 30 events
   * (measured with the AMQP bench). Once shutdown has begun they go on the next turn, so the
   * figures of the last events reach the stats worker before it stops.
   */
  #noteLatency(ms: number): void {
    if (this.#latencies.push(ms) > 1) return;
    const delayMs = this.#options.control.signal.aborted ? 0 : latencyNoteIntervalMs;
    this.#latencyTimer = setTimeout(() => this.#sendLatencies(), delayMs);
    this.#latencyTimer.unref();
  }

  #sendLatencies(): void {
    clearTimeout(this.#latencyTimer);
    const latenciesMs = this.#latencies;
    if (latenciesMs.length === 0) return;
    this.#latencies = [];
    this.#options.stats.notify({ latenciesMs });
  }

  #send(frames: string[]): Promise<void> {
    const send = this.#lastSend.then(() => this.#options.publisher.send(frames));
    this.#lastSend = send.catch(() => undefined);
    return send;
  }
}
