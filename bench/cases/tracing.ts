import type { Cases } from '../case.js';
import { runBare } from '../amqp/bare.js';
import { onFreshVhost } from '../amqp/fresh-vhost.js';
import { runPipeline } from '../amqp/pipeline.js';
import type { RunFigures } from '../amqp/figures.js';
import { median, round } from '../stats.js';
import { startOtlpReceiver } from '../otlp-receiver.js';

/**
 * What tracing costs: the AMQP pipeline with tracing off and with tracing on (every message
 * traced, spans exported with OTLP/HTTP (protobuf, the default) to a loopback receiver in this process), each as a
 * ratio to the same run's bare amqplib loop, and tracing on with one trace in ten sampled
 * (`parentbased_traceidratio` 0.1: the context still goes everywhere, few spans are
 * recorded). Runs go bare, off, on, sampled, round after round, each on a fresh vhost.
 * Targets: off costs nothing measurable next to `amqp_ratio`; on costs at most 10% of off.
 * Each run drains `warmUp` events before the `count` it is measured over (measureDrain);
 * `onToOffFromStart` gives the cost from the consumer's start, warm-up included.
 */

export async function tracingCases(rounds: number, count: number, warmUp = 0): Promise<Cases> {
  const prefetch = 100;
  const receiver = await startOtlpReceiver();
  const bare: number[] = [];
  const off: number[] = [];
  const on: number[] = [];
  const sampled: number[] = [];
  const bytesPerRun: number[] = [];
  // The service's CPU per message (all its threads, from /proc), by mode: steadier than a rate
  // on a shared machine, and what tracing adds whether or not the CPU is saturated.
  const cpu: Record<'off' | 'on' | 'sampled', number[]> = { off: [], on: [], sampled: [] };
  // The rates from the consumer's start, warm-up included, by run name.
  const fromStart = new Map<string, number[]>();
  // One run on a fresh vhost: its rate (and, for a pipeline run, its CPU per message).
  const rateOf = async (
    name: string,
    run: (url: string, broker: number) => Promise<RunFigures>,
    mode?: keyof typeof cpu,
  ): Promise<number> => {
    const figures = await onFreshVhost(name, (vhost, broker) => run(vhost.url, broker));
    if (mode !== undefined) cpu[mode].push(figures.serviceCpuUs);
    if (figures.fromStart !== undefined)
      fromStart.set(name, [...(fromStart.get(name) ?? []), figures.fromStart.rate]);
    return figures.rate;
  };
  const traced = (env: Record<string, string>) => (url: string, broker: number) =>
    runPipeline(url, 'traced', count, prefetch, broker, warmUp, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      ...env,
    });
  try {
    for (let i = 0; i < rounds; i++) {
      bare.push(
        await rateOf('bare', (url, broker) =>
          runBare(url, 'bare', count, prefetch, broker, warmUp),
        ),
      );
      off.push(
        await rateOf(
          'untraced',
          (url, broker) => runPipeline(url, 'untraced', count, prefetch, broker, warmUp),
          'off',
        ),
      );
      const before = receiver.bytes();
      on.push(await rateOf('traced', traced({ OTEL_TRACES_SAMPLER: 'always_on' }), 'on'));
      bytesPerRun.push(receiver.bytes() - before);
      const sampler = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio' };
      sampled.push(
        await rateOf('sampled', traced({ ...sampler, OTEL_TRACES_SAMPLER_ARG: '0.1' }), 'sampled'),
      );
    }
  } finally {
    await receiver.close();
  }
  const bareRate = median(bare);
  const offRatio = round(median(off) / bareRate, 3);
  const onRatio = round(median(on) / bareRate, 3);
  const cost = round(median(on) / median(off), 3);
  const sampledRatio = round(median(sampled) / bareRate, 3);
  const sampledCost = round(median(sampled) / median(off), 3);
  // The same costs from the consumer's start (null without a warm-up).
  const costFromStart = (name: string): number | null => {
    const rates = fromStart.get(name);
    const offRates = fromStart.get('untraced');
    return rates === undefined || offRates === undefined
      ? null
      : round(median(rates) / median(offRates), 3);
  };
  const cpuOf = (mode: keyof typeof cpu) => ({
    serviceCpuUs: round(median(cpu[mode]), 1),
    serviceCpuSamples: cpu[mode].map((x) => round(x, 1)),
  });
  const common = {
    unit: 'ratio',
    baseline: 1,
    bareRate: round(bareRate, 0),
    rateUnit: 'msg/s',
    count,
    baselineSamples: bare.map((x) => round(x, 0)),
  };
  return {
    tracing_off_ratio: {
      ...common,
      value: offRatio,
      ratio: offRatio,
      target: 'as amqp_ratio (>= 0.9)',
      meetsTarget: offRatio >= 0.9,
      rate: round(median(off), 0),
      samples: off.map((x) => round(x, 0)),
      ...cpuOf('off'),
      notes: `${count} messages per run after ${warmUp} of warm-up, prefetch ${prefetch}: the pipeline with tracing off, to the same run's bare amqplib loop`,
    },
    tracing_on_ratio: {
      ...common,
      value: onRatio,
      ratio: onRatio,
      target: '>= 0.9 x tracing_off_ratio',
      meetsTarget: cost >= 0.9,
      rate: round(median(on), 0),
      onToOff: cost,
      onToOffFromStart: costFromStart('traced'),
      otlpBytesExported: bytesPerRun,
      samples: on.map((x) => round(x, 0)),
      ...cpuOf('on'),
      notes:
        'the same with tracing on: every message traced (receive, process, publish spans), ' +
        'exported with OTLP/HTTP to a loopback receiver; onToOff is the cost of tracing',
    },
    tracing_sampled_ratio: {
      ...common,
      value: sampledRatio,
      ratio: sampledRatio,
      target: '>= 0.9 x tracing_off_ratio',
      meetsTarget: sampledCost >= 0.9,
      rate: round(median(sampled), 0),
      onToOff: sampledCost,
      onToOffFromStart: costFromStart('sampled'),
      samples: sampled.map((x) => round(x, 0)),
      ...cpuOf('sampled'),
      notes:
        'tracing on with OTEL_TRACES_SAMPLER=parentbased_traceidratio, 0.1: context ' +
        'propagated for every message, one trace in ten recorded and exported',
    },
  };
}
