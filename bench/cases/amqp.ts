import type { CaseResult, Cases } from '../case.js';
import { round } from '../stats.js';
import { runAmqpBench } from '../amqp.js';
import { runScaleOut } from '../amqp/scale.js';
import { runLeak } from '../amqp/leak.js';

/** A rate comparison reported without a target: the ratio of the medians as the value. */
function reportedRatio(
  ratio: number,
  rates: Record<string, unknown>,
  samples: number[],
  baselineSamples: number[],
  notes: string,
): CaseResult {
  const fixed = { unit: 'ratio', baseline: 1, target: 'reported', meetsTarget: true };
  return { value: ratio, ratio, ...fixed, ...rates, samples, baselineSamples, notes };
}

/**
 * The RabbitMQ pipeline against a bare amqplib loop (the baseline), the same loop publishing
 * the service's message (`as-service`), and rascal (the peer), all
 * consume -> confirmed publish -> ack with the same prefetch, alternated in one run, with the
 * CPU time per message of the consuming side and of the broker, and the service's RSS while
 * it drains the queue at full rate: see bench/amqp.ts.
 */
export async function amqpCases(runs: number, count: number, warmUp = 0): Promise<Cases> {
  const r = await runAmqpBench({ count, warmUp, prefetch: 100, rounds: runs });
  const what = `${count} messages per run after ${warmUp} of warm-up (every contender), prefetch ${r.prefetch}, ${runs} alternated rounds, medians`;
  const rates = (k: 'bare' | 'bareAsService' | 'pipeline' | 'rascal') =>
    r.samples.map((s) => s[k]?.rate ?? 0);
  const cases: Cases = {
    amqp_ratio: {
      value: r.ratio,
      unit: 'ratio',
      baseline: 1,
      ratio: r.ratio,
      target: '>= 0.9',
      meetsTarget: r.ratio >= 0.9,
      coreRate: r.pipeline.rate,
      rawRate: r.bare.rate,
      rateUnit: 'msg/s',
      count,
      samples: rates('pipeline'),
      baselineSamples: rates('bare'),
      fromStart: r.ratioFromStart,
      notes: `${what}: the whole pipeline (consumer, processor thread, ZeroMQ, confirmed result, ack) in a child process against a bare amqplib consume/publish-with-confirm/ack loop; fromStart: the same from each consumer's start, warm-up included`,
    },
    amqp_cpu_us_per_msg: {
      value: r.pipeline.serviceCpuUs,
      unit: 'µs/msg',
      baseline: r.bare.serviceCpuUs,
      ratio: round(r.pipeline.serviceCpuUs / r.bare.serviceCpuUs),
      target: 'reported',
      meetsTarget: true,
      brokerCpuUs: { pipeline: r.pipeline.brokerCpuUs, bare: r.bare.brokerCpuUs },
      fromStart: { pipeline: r.pipeline.fromStart ?? null, bare: r.bare.fromStart ?? null },
      rascalCpuUs: r.rascal && { service: r.rascal.serviceCpuUs, broker: r.rascal.brokerCpuUs },
      samples: r.samples.map((s) => s['pipeline']?.serviceCpuUs ?? 0),
      baselineSamples: r.samples.map((s) => s['bare']?.serviceCpuUs ?? 0),
      notes: `${what}: CPU time (user+system, all threads, from /proc) of the service per message against the bare loop's; brokerCpuUs: the broker's (beam.smp) over the same windows`,
    },
    load_rss_mb: {
      value: r.pipeline.peakRssMb ?? Number.NaN,
      unit: 'MiB',
      baseline: r.pipeline.startRssMb ?? null,
      ratio:
        r.pipeline.startRssMb === undefined
          ? null
          : round((r.pipeline.peakRssMb ?? 0) / r.pipeline.startRssMb),
      target: '<= 200 MiB',
      meetsTarget: (r.pipeline.peakRssMb ?? Number.POSITIVE_INFINITY) <= 200,
      samples: r.samples.map((s) => s['pipeline']?.peakRssMb ?? 0),
      notes: `${what}: the service's highest VmRSS (sampled every 200 ms) while it drains the queue at full rate; baseline: its RSS when its consumer started`,
    },
  };
  if (r.bareAsService !== null && r.coreRatio !== null) {
    cases['amqp_core_ratio'] = reportedRatio(
      r.coreRatio,
      {
        coreRate: r.pipeline.rate,
        rawRate: r.bareAsService.rate,
        rateUnit: 'msg/s',
        publishShapeRatio: r.publishShapeRatio,
        bareAsServiceCpuUs: {
          self: r.bareAsService.serviceCpuUs,
          broker: r.bareAsService.brokerCpuUs,
        },
      },
      rates('pipeline'),
      rates('bareAsService'),
      `${what}: the pipeline against the bare loop publishing the service's message (through a direct exchange, mandatory, appId, timestamp, type, a UUID correlation id), so the broker does the same work for both and the ratio is the core's own cost; publishShapeRatio: that loop against the plain bare loop, what the shape of the service's results costs the rate`,
    );
  }
  if (r.rascal !== null && r.peerRatio !== null) {
    cases['amqp_peer_ratio'] = reportedRatio(
      r.peerRatio,
      {
        coreRate: r.pipeline.rate,
        peerRate: r.rascal.rate,
        rateUnit: 'msg/s',
        rascal: r.rascalSettings,
      },
      rates('pipeline'),
      rates('rascal'),
      `${what}: the pipeline against rascal doing the same work in one process (ack on the publication's success event, i.e. after the confirm)`,
    );
  }
  return cases;
}

/** Scale-out: aggregate throughput of 1, 2 and 3 service processes on one queue. */
export async function scaleCases(runs: number, count: number): Promise<Cases> {
  const { medians, samples } = await runScaleOut(count, 100, runs);
  const one = medians[0]?.rate ?? Number.NaN;
  const three = medians[2]?.rate ?? Number.NaN;
  return {
    scale_out_3x: {
      value: three,
      unit: 'msg/s',
      baseline: one,
      ratio: round(three / one),
      target: 'reported',
      meetsTarget: true,
      byProcesses: medians,
      samples: samples[2]?.map((x) => x.rate) ?? [],
      baselineSamples: samples[0]?.map((x) => x.rate) ?? [],
      twoProcessSamples: samples[1]?.map((x) => x.rate) ?? [],
      notes: `${count} waiting messages, prefetch 100, ${runs} rounds: aggregate rate of 3 sample services on one queue (baseline: 1 service), over the window where all consume; byProcesses: 1, 2, 3 with the CPU per message of the services together and of the broker`,
    },
  };
}

/** No leak: RSS and post-GC heap after `last` messages against after `first`. */
export async function leakCases(first: number, last: number): Promise<Cases> {
  const r = await runLeak({ first, last });
  const what = `one sample service draining a queue kept topped up, prefetch 100; figures taken at full rate after ${first} and after ${last} results`;
  return {
    leak_rss_ratio: {
      value: r.rssRatio,
      unit: 'ratio',
      baseline: r.first.rssMb,
      ratio: r.rssRatio,
      target: '<= 1.1',
      meetsTarget: r.rssRatio <= 1.1,
      first: r.first,
      last: r.last,
      notes: `${what}: RSS after ${last} / RSS after ${first} (baseline: the MiB after ${first})`,
    },
    load_rss_sustained_mb: {
      value: r.peakRssMb,
      unit: 'MiB',
      baseline: r.first.rssMb,
      ratio: round(r.peakRssMb / r.first.rssMb),
      target: '<= 200 MiB',
      meetsTarget: r.peakRssMb <= 200,
      notes: `${what}: the service's highest VmRSS (sampled every 200 ms) from the ${first}th result to the ${last}th, a sustained drain at full rate with its major GCs' sawtooth (load_rss_mb covers one drain of the amqp group); baseline: the RSS after ${first}, taken after a GC`,
    },
    leak_heap_ratio: {
      value: r.heapRatio,
      unit: 'ratio',
      baseline: r.first.heapMb,
      ratio: r.heapRatio,
      target: '<= 1.1',
      meetsTarget: r.heapRatio <= 1.1,
      notes: `${what}: used heap of all threads after a GC in each (heap probe preload, SIGUSR2), after ${last} / after ${first}`,
    },
  };
}
