import { cpuSeconds, rssMb } from '../proc.js';

/** What one AMQP bench run measured. */
export interface RunFigures {
  /** Messages per second, consumer start to the last confirmed result. */
  rate: number;
  /** CPU time of the consuming side (all its threads) per message, in µs. */
  serviceCpuUs: number;
  /** CPU time of the broker (its Erlang VM) per message over the same window, in µs. */
  brokerCpuUs: number;
  /** Highest RSS of the consuming process during the run (child processes only), in MiB. */
  peakRssMb?: number;
  /** RSS when the consumer started (child processes only), in MiB. */
  startRssMb?: number;
}

/** The CPU seconds of the consuming side: a child's pid, or this process. */
export type CpuSource = number | 'self';

function cpuOfSource(source: CpuSource): number {
  if (source === 'self') {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  }
  return cpuSeconds(source);
}

/**
 * A measuring window, opened when the consumer starts: `close(count)` gives the rate and the
 * CPU per message of the consuming side and of the broker. For a child process, the RSS is
 * sampled every 200 ms while the window is open and the peak reported.
 */
export class Window {
  readonly #source: CpuSource;
  readonly #broker: number;
  readonly #startedAt: number;
  readonly #cpu0: number;
  readonly #broker0: number;
  readonly #sampler: NodeJS.Timeout | undefined;
  #peakRss = 0;
  #startRss: number | undefined;

  /** `startedAt`: performance.now() of the consumer's start, when known better than now. */
  constructor(source: CpuSource, broker: number, startedAt = performance.now()) {
    this.#source = source;
    this.#broker = broker;
    this.#startedAt = startedAt;
    this.#cpu0 = cpuOfSource(source);
    this.#broker0 = cpuSeconds(broker);
    if (typeof source === 'number') {
      this.#startRss = rssMb(source);
      this.#peakRss = this.#startRss;
      this.#sampler = setInterval(() => this.#sample(source), 200);
    }
  }

  #sample(pid: number): void {
    try {
      this.#peakRss = Math.max(this.#peakRss, rssMb(pid));
    } catch {
      // The process is gone: the run will fail on its own; keep the peak seen.
    }
  }

  /** Ends the window at `endedAt` (performance.now()) with `count` messages done. */
  close(count: number, endedAt = performance.now()): RunFigures {
    if (this.#sampler !== undefined) {
      clearInterval(this.#sampler);
      this.#sample(this.#source as number);
    }
    const cpu = cpuOfSource(this.#source) - this.#cpu0;
    const broker = cpuSeconds(this.#broker) - this.#broker0;
    return {
      rate: count / ((endedAt - this.#startedAt) / 1000),
      serviceCpuUs: (cpu / count) * 1e6,
      brokerCpuUs: (broker / count) * 1e6,
      ...(this.#startRss === undefined
        ? {}
        : { peakRssMb: this.#peakRss, startRssMb: this.#startRss }),
    };
  }

  /** Stops sampling without a result (the run failed). Idempotent. */
  abandon(): void {
    if (this.#sampler !== undefined) clearInterval(this.#sampler);
  }
}
