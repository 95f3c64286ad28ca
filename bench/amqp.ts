import { onFreshVhost } from './amqp/fresh-vhost.js';
import { median, round } from './stats.js';
import type { RunFigures } from './amqp/figures.js';
import { runBare } from './amqp/bare.js';
import { runPipeline } from './amqp/pipeline.js';
import { rascalSettings, runRascal } from './amqp/rascal.js';

/**
 * AMQP throughput and cost: `count` waiting events drained by the whole sample pipeline (the
 * built service as a child process), by a bare amqplib loop (the baseline), by the same loop
 * publishing the service's message (`as-service`: bench/amqp/bare.ts) and by rascal (the
 * peer), all doing consume -> publish the result with a confirm -> ack on the confirm, with
 * the same prefetch, on the same broker, alternated, each run on a fresh vhost. Besides the
 * rate, each run reads from /proc the CPU time per message of the consuming side and of the
 * broker: on 2 shared cores those, unlike msg/s, hardly move from run to run.
 *
 * CLI: `node dist/bench/amqp.js [count] [prefetch] [rounds] [warmUp]`; prints one JSON object.
 * BENCH_PEER=0 leaves rascal out; BENCH_AS_SERVICE=0 the as-service loop; BENCH_RASCAL_POOL=n
 * gives rascal n confirm channels;
 * BENCH_SERVICE_NODE_OPTIONS: see pipelineEnv().
 */

export interface AmqpBenchOptions {
  /** Messages per run, measured; at least 50,000 for the published figure. */
  count: number;
  /** Messages drained before the measured ones, by every contender (measureDrain; default 0). */
  warmUp?: number;
  /** Prefetch of every consumer (default 100). */
  prefetch?: number;
  /** Rounds of every contender, order rotated each round; medians reported (default 5). */
  rounds?: number;
  /** Leave the peer out (default: included). */
  withPeer?: boolean;
  /** Leave out the bare loop that publishes as the service does (default: included). */
  withAsService?: boolean;
}

/** The medians of one contender's runs. */
export interface Medians {
  rate: number;
  serviceCpuUs: number;
  brokerCpuUs: number;
  peakRssMb?: number;
  startRssMb?: number;
  /** With a warm-up: the medians from the consumer's start, warm-up included. */
  fromStart?: { rate: number; serviceCpuUs: number; brokerCpuUs: number };
}

export interface AmqpBenchResult {
  count: number;
  warmUp: number;
  prefetch: number;
  bare: Medians;
  /** The bare loop publishing the service's message (exchange, mandatory, its properties). */
  bareAsService: Medians | null;
  pipeline: Medians;
  rascal: Medians | null;
  /** pipeline.rate / bare.rate (medians). */
  ratio: number;
  /** pipeline.rate / bareAsService.rate: the core's cost, the broker's share for the shape out. */
  coreRatio: number | null;
  /** bareAsService.rate / bare.rate: what the shape of the service's results costs the rate. */
  publishShapeRatio: number | null;
  /** The same from the consumer's start, warm-up included (null without a warm-up). */
  ratioFromStart: number | null;
  /** pipeline.rate / rascal.rate (medians), null without the peer. */
  peerRatio: number | null;
  rascalSettings: Record<string, unknown>;
  /** Every round's figures, in run order, to show the spread on a shared machine. */
  samples: Array<Record<string, RunFigures>>;
}

type Contender = 'bare' | 'bareAsService' | 'pipeline' | 'rascal';
/** rascal's confirm channel pool: its default (5) unless BENCH_RASCAL_POOL says (experiments). */
const rascalPool = Number(process.env['BENCH_RASCAL_POOL'] ?? 5);
type Runner = (
  url: string,
  name: string,
  count: number,
  prefetch: number,
  broker: number,
  warmUp: number,
) => Promise<RunFigures>;
const runners: Record<Contender, Runner> = {
  bare: (url, name, count, prefetch, broker, warmUp) =>
    runBare(url, name, count, prefetch, broker, warmUp),
  bareAsService: (url, name, count, prefetch, broker, warmUp) =>
    runBare(url, name, count, prefetch, broker, warmUp, 'as-service'),
  pipeline: (url, name, count, prefetch, broker, warmUp) =>
    runPipeline(url, name, count, prefetch, broker, warmUp),
  rascal: (url, name, count, prefetch, broker, warmUp) =>
    runRascal(url, name, count, prefetch, broker, warmUp, rascalPool),
};

function medians(runs: readonly RunFigures[]): Medians {
  type Figure = Exclude<keyof RunFigures, 'fromStart'>;
  const of = (k: Figure): number => round(median(runs.map((r) => r[k] ?? Number.NaN)), 1);
  const result: Medians = {
    rate: round(median(runs.map((r) => r.rate)), 0),
    serviceCpuUs: of('serviceCpuUs'),
    brokerCpuUs: of('brokerCpuUs'),
  };
  if (runs[0]?.peakRssMb !== undefined) {
    result.peakRssMb = of('peakRssMb');
    result.startRssMb = of('startRssMb');
  }
  const fromStart = runs.flatMap((r) => (r.fromStart === undefined ? [] : [r.fromStart]));
  if (fromStart.length === runs.length && runs.length > 0) {
    result.fromStart = {
      rate: round(median(fromStart.map((f) => f.rate)), 0),
      serviceCpuUs: round(median(fromStart.map((f) => f.serviceCpuUs)), 1),
      brokerCpuUs: round(median(fromStart.map((f) => f.brokerCpuUs)), 1),
    };
  }
  return result;
}

function rounded(figures: RunFigures): RunFigures {
  const each = <T extends object>(o: T): T =>
    Object.fromEntries(
      Object.entries(o).map(([k, v]) => [
        k,
        typeof v === 'number' ? round(v, k === 'rate' ? 0 : 1) : each(v as object),
      ]),
    ) as T;
  return each(figures);
}

/**
 * Runs every contender `rounds` times, alternated (the order rotates each round, so none
 * always follows the same one), and returns the medians and ratios. A fresh vhost per run
 * matters: the broker's speed drifts with what it holds.
 */
export async function runAmqpBench(options: AmqpBenchOptions): Promise<AmqpBenchResult> {
  const { count } = options;
  const warmUp = options.warmUp ?? 0;
  const prefetch = options.prefetch ?? 100;
  const rounds = options.rounds ?? 5;
  const contenders: Contender[] = [
    'bare',
    'pipeline',
    ...(options.withAsService === false ? [] : (['bareAsService'] as const)),
    ...(options.withPeer === false ? [] : (['rascal'] as const)),
  ];
  const runs: Record<Contender, RunFigures[]> = {
    bare: [],
    bareAsService: [],
    pipeline: [],
    rascal: [],
  };
  const samples: Array<Record<string, RunFigures>> = [];
  for (let r = 0; r < rounds; r++) {
    const row: Record<string, RunFigures> = {};
    for (let i = 0; i < contenders.length; i++) {
      const contender = contenders[(r + i) % contenders.length] as Contender;
      const figures = await onFreshVhost('bench', (vhost, broker) =>
        runners[contender](vhost.url, contender, count, prefetch, broker, warmUp),
      );
      runs[contender].push(figures);
      row[contender] = rounded(figures);
    }
    samples.push(row);
  }
  const bare = medians(runs.bare);
  const pipeline = medians(runs.pipeline);
  const rascal = runs.rascal.length > 0 ? medians(runs.rascal) : null;
  const bareAsService = runs.bareAsService.length > 0 ? medians(runs.bareAsService) : null;
  return {
    count,
    warmUp,
    prefetch,
    bare,
    bareAsService,
    pipeline,
    rascal,
    ratio: round(pipeline.rate / bare.rate, 3),
    coreRatio: bareAsService === null ? null : round(pipeline.rate / bareAsService.rate, 3),
    publishShapeRatio: bareAsService === null ? null : round(bareAsService.rate / bare.rate, 3),
    ratioFromStart:
      pipeline.fromStart && bare.fromStart
        ? round(pipeline.fromStart.rate / bare.fromStart.rate, 3)
        : null,
    peerRatio: rascal === null ? null : round(pipeline.rate / rascal.rate, 3),
    rascalSettings: rascalSettings(prefetch, rascalPool),
    samples,
  };
}

if (import.meta.main) {
  const count = Number(process.argv[2] ?? 50_000);
  const prefetch = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  const rounds = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
  const warmUp = process.argv[5] === undefined ? undefined : Number(process.argv[5]);
  const withPeer = process.env['BENCH_PEER'] !== '0';
  const withAsService = process.env['BENCH_AS_SERVICE'] !== '0';
  const result = await runAmqpBench({ count, prefetch, rounds, warmUp, withPeer, withAsService });
  process.stdout.write(`${JSON.stringify({ bench: 'amqp', ...result })}\n`);
}
