import * as amqp from 'amqplib';
import { ServiceProcess } from '../../test/helpers/service-process.js';
import type { TestVhost } from '../../test/helpers/broker.js';
import { onFreshVhost } from './fresh-vhost.js';
import { cpuOf, cpuSeconds } from '../proc.js';
import { median, round } from '../stats.js';
import { fill, untilDepth } from './messages.js';
import { exitAsFailure, pipelineEnv } from './pipeline.js';

/**
 * Scale-out: 1, 2 and 3 sample services (separate processes) consuming one queue, the way a
 * fork grows past one process, RabbitMQ being the shared engine. The aggregate rate is taken
 * over the window in which all of them consume: from the last one's `consumer started` to the
 * moment 90% of the results are in (the tail, when some have run dry, is left out).
 */

export interface ScaleFigures {
  processes: number;
  /** Aggregate results per second while all consumed. */
  rate: number;
  /** CPU time of all services together per message, in µs. */
  serviceCpuUs: number;
  brokerCpuUs: number;
}

async function runScaled(
  vhost: TestVhost,
  processes: number,
  count: number,
  prefetch: number,
  broker: number,
): Promise<ScaleFigures> {
  const admin = await amqp.connect(vhost.url);
  const services: ServiceProcess[] = [];
  try {
    const channel = await admin.createConfirmChannel();
    await fill(channel, 'scale.events', count);
    await channel.assertQueue('scale.results', { durable: true });
    for (let i = 0; i < processes; i++)
      services.push(
        new ServiceProcess({ app: 'sample', env: pipelineEnv(vhost.url, 'scale', prefetch) }),
      );
    await Promise.all(services.map((s) => s.waitFor('consumer started', 30_000)));
    const pids = services.map((s) => s.pid);
    const t0 = performance.now();
    const cpu0 = cpuOf(pids);
    const broker0 = cpuSeconds(broker);
    const done0 = (await channel.checkQueue('scale.results')).messageCount;
    const target = Math.ceil(count * 0.9);
    if (done0 >= target) throw new Error(`${done0} of ${count} done before all had started`);
    const crashed = Promise.race(services.map((s) => exitAsFailure(s, 'during scale-out')));
    const polling = new AbortController();
    const t1 = await Promise.race([
      untilDepth(channel, 'scale.results', target, polling.signal),
      crashed,
    ]).finally(() => polling.abort());
    const done = (await channel.checkQueue('scale.results')).messageCount - done0;
    const figures = {
      processes,
      rate: round(done / ((t1 - t0) / 1000), 0),
      serviceCpuUs: round(((cpuOf(pids) - cpu0) / done) * 1e6, 1),
      brokerCpuUs: round(((cpuSeconds(broker) - broker0) / done) * 1e6, 1),
    };
    for (const s of services) s.signal('SIGTERM');
    await Promise.all(services.map((s) => s.waitForExit(30_000)));
    return figures;
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    await admin.close();
  }
}

/** Runs 1, 2, 3 processes `rounds` times, alternated; the median of each. */
export async function runScaleOut(
  count: number,
  prefetch: number,
  rounds: number,
): Promise<{ medians: ScaleFigures[]; samples: ScaleFigures[][] }> {
  const samples: ScaleFigures[][] = [[], [], []];
  for (let r = 0; r < rounds; r++)
    for (let k = 1; k <= 3; k++) {
      const figures = await onFreshVhost('bench-scale', (vhost, broker) =>
        runScaled(vhost, k, count, prefetch, broker),
      );
      samples[k - 1]?.push(figures);
    }
  const medians = samples.map((runs, i) => ({
    processes: i + 1,
    rate: median(runs.map((x) => x.rate)),
    serviceCpuUs: median(runs.map((x) => x.serviceCpuUs)),
    brokerCpuUs: median(runs.map((x) => x.brokerCpuUs)),
  }));
  return { medians, samples };
}
