import type { Logger } from '../lib/log.js';
import type { ProcessControl } from '../lib/lifecycle/process-control.js';
import { handleError } from '../lib/lifecycle/exception-scope.js';
import type { ThreadChannel } from '../lib/threads/thread-channel.js';
import type { ManagedSocket } from '../lib/zmq/socket-registry.js';
import type { Metrics } from '../lib/telemetry/metrics.js';
import { currentCorrelationId } from '../lib/correlation.js';
import type { SampleEvent } from './events.js';
import type { ProcessContract, StatsContract } from './protocol.js';
import type { HttpNotifier } from './notifier.js';

/**
 * The main thread's part of the sample pipeline: takes an event, has the processor worker do
 * the work, publishes the result on the ZeroMQ PUB socket (topic `results`, frames
 * [topic, correlation id, JSON]) and tells the stats worker. Tracks work in flight so
 * shutdown can drain it.
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

export class SamplePipeline {
  readonly #options: SamplePipelineOptions;
  readonly #log: Logger;
  readonly #inFlight = new Set<Promise<void>>();
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
    const work = this.#process(event);
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  /** Resolves when every event taken so far is done. */
  async drain(): Promise<void> {
    if (this.#inFlight.size > 0) this.#log.info({ inFlight: this.#inFlight.size }, 'draining');
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async #process(event: SampleEvent): Promise<void> {
    const started = performance.now();
    try {
      const result = await this.#options.processor.request({ event });
      const correlationId = currentCorrelationId() ?? '';
      await this.#options.publisher.send([resultsTopic, correlationId, JSON.stringify(result)]);
      const latencyMs = Math.round(performance.now() - started);
      this.#options.stats.notify({ result, latencyMs });
      await this.#options.notifier?.notify(result, correlationId);
      this.#processed++;
      this.#options.metrics.count('messages_processed');
      this.#options.metrics.timing('processing_latency_ms', latencyMs);
      this.#log.info(
        { eventId: event.id, digest: result.digest.slice(0, 12), latencyMs },
        'event processed',
      );
    } catch (error) {
      this.#failed++;
      this.#options.metrics.count('messages_failed');
      handleError(error, { name: 'pipeline', log: this.#log, control: this.#options.control });
    }
  }
}
