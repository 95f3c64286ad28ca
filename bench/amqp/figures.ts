import type * as amqp from 'amqplib';
import { PeakRss, cpuSeconds } from '../proc.js';
import { untilDepth } from './messages.js';

/** What one AMQP bench run measured. */
export interface RunFigures {
  /**
   * Messages per second over the measured window: from the warm-up's last result (or, with no
   * warm-up, the consumer's start) to the last confirmed result.
   */
  rate: number;
  /** CPU time of the consuming side (all its threads) per message, in µs. */
  serviceCpuUs: number;
  /** CPU time of the broker (its Erlang VM) per message over the same window, in µs. */
  brokerCpuUs: number;
  /** Highest RSS of the consuming process during the run (child processes only), in MiB. */
  peakRssMb?: number;
  /** RSS when the consumer started (child processes only), in MiB. */
  startRssMb?: number;
  /** With a warm-up: the same three figures from the consumer's start, warm-up included. */
  fromStart?: { rate: number; serviceCpuUs: number; brokerCpuUs: number };
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
  readonly #rss: PeakRss | undefined;

  /**
   * `startedAt`: performance.now() of the consumer's start, when known better than now;
   * `sampleRss`: false leaves a child's RSS unsampled (another window samples it).
   */
  constructor(source: CpuSource, broker: number, startedAt = performance.now(), sampleRss = true) {
    this.#source = source;
    this.#broker = broker;
    this.#startedAt = startedAt;
    this.#cpu0 = cpuOfSource(source);
    this.#broker0 = cpuSeconds(broker);
    if (typeof source === 'number' && sampleRss) this.#rss = new PeakRss(source);
  }

  /** Ends the window at `endedAt` (performance.now()) with `count` messages done. */
  close(count: number, endedAt = performance.now()): RunFigures {
    const rss =
      this.#rss === undefined ? {} : { peakRssMb: this.#rss.stop(), startRssMb: this.#rss.startMb };
    const cpu = cpuOfSource(this.#source) - this.#cpu0;
    const broker = cpuSeconds(this.#broker) - this.#broker0;
    return {
      rate: count / ((endedAt - this.#startedAt) / 1000),
      serviceCpuUs: (cpu / count) * 1e6,
      brokerCpuUs: (broker / count) * 1e6,
      ...rss,
    };
  }

  /** Stops sampling without a result (the run failed). Idempotent. */
  abandon(): void {
    this.#rss?.stop();
  }
}

/**
 * The measuring of one drain, shared by every contender. The consumer drains `warmUp + count`
 * waiting events; `resultsReach(n)` resolves with performance.now() once n results are in.
 * The figures are those of the last `count`: V8 compiles a process's hot code in its first
 * seconds (a 20,000-event drain of the sample spent 16.5 µs a message in V8's compiler
 * threads, a 60,000-event one 5.7), and a contender in this process (the bare loop, rascal)
 * runs warm after the first round while the service starts cold in every one: measured from
 * the same mark, after the same warm-up, like is compared with like. `fromStart` keeps the
 * figures from the consumer's start, warm-up included; the RSS peak covers the whole drain.
 */
export async function measureDrain(options: {
  source: CpuSource;
  broker: number;
  /** performance.now() of the consumer's start. */
  startedAt: number;
  warmUp: number;
  count: number;
  resultsReach: (results: number) => Promise<number>;
}): Promise<RunFigures> {
  const { warmUp, count } = options;
  const whole = new Window(options.source, options.broker, options.startedAt);
  try {
    if (warmUp === 0) return whole.close(count, await options.resultsReach(count));
    const markedAt = await options.resultsReach(warmUp);
    const measured = new Window(options.source, options.broker, markedAt, false);
    const endedAt = await options.resultsReach(warmUp + count);
    const all = whole.close(warmUp + count, endedAt);
    const { rate, serviceCpuUs, brokerCpuUs } = all;
    return {
      ...measured.close(count, endedAt),
      ...(all.peakRssMb === undefined
        ? {}
        : { peakRssMb: all.peakRssMb, startRssMb: all.startRssMb }),
      fromStart: { rate, serviceCpuUs, brokerCpuUs },
    };
  } finally {
    whole.abandon();
  }
}

/**
 * measureDrain for a consumer in this process (the bare loop, rascal) started at `startedAt`,
 * its results counted in `queue` through `channel`.
 */
export function measureHere(
  channel: amqp.Channel,
  queue: string,
  run: { broker: number; startedAt: number; warmUp: number; count: number },
): Promise<RunFigures> {
  return measureDrain({
    source: 'self',
    ...run,
    resultsReach: (n) => untilDepth(channel, queue, n),
  });
}
