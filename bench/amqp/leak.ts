import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import * as amqp from 'amqplib';
import { ServiceProcess } from '../../test/helpers/service-process.js';
import type { TestVhost } from '../../test/helpers/broker.js';
import { onFreshVhost } from './fresh-vhost.js';
import { round } from '../stats.js';
import { PeakRss, launcherNodeOptions } from '../proc.js';
import { body } from './messages.js';
import { exitAsFailure, pipelineEnv } from './pipeline.js';

/**
 * The no-leak case: one sample service drains a queue the bench keeps topped up, and its RSS
 * and post-GC heap (every thread, collected by bench/probes/heap-probe.ts on SIGUSR2) are
 * taken after `first` and after `last` results, both while it is still working at full rate.
 * A leak shows as the second figure growing with the count; a bounded footprint stays flat.
 */

const probe = fileURLToPath(new URL('../probes/heap-probe.js', import.meta.url));

export interface Footprint {
  results: number;
  rssMb: number;
  /** Used heap of all threads together after a GC in each, in MiB. */
  heapMb: number;
  /** The same per thread id (0 is the main thread). */
  heapByThread: Record<string, number>;
  /** RAM V8 holds for the heaps of all threads (total_physical_size), in MiB. */
  heapPhysicalMb: number;
  /** The same per thread id. */
  heapPhysicalByThread: Record<string, number>;
  /** Memory outside the V8 heaps that V8 knows of (Buffers, ArrayBuffers), in MiB. */
  externalMb: number;
}

export interface LeakFigures {
  first: Footprint;
  last: Footprint;
  rssRatio: number;
  heapRatio: number;
  /**
   * The highest VmRSS between the two marks, sampled every 200 ms: the RSS of a sustained
   * drain at full rate, its major GCs' sawtooth included (the footprints are taken after a GC).
   */
  peakRssMb: number;
}

/** Asks the service's probe for its footprint (SIGUSR2) and resolves with the answer. */
async function footprint(service: ServiceProcess, results: number): Promise<Footprint> {
  const stderr = service.child.stderr;
  if (stderr === null) throw new Error('the service has no stderr pipe to read the probe from');
  const lines = createInterface({ input: stderr });
  try {
    const answer = new Promise<string>((resolve) => {
      lines.on('line', (line) => {
        if (line.startsWith('bench-heap-probe ')) resolve(line.slice('bench-heap-probe '.length));
      });
    });
    service.signal('SIGUSR2');
    const timeout = delay(10_000).then(() => {
      throw new Error('the heap probe did not answer within 10 s (is the preload loaded?)');
    });
    const parsed = JSON.parse(await Promise.race([answer, timeout])) as {
      rssMb: number;
      heapMb: Record<string, number>;
      totalHeapMb: number;
      physicalMb: Record<string, number>;
      totalPhysicalMb: number;
      externalMb: number;
    };
    const each = (o: Record<string, number>) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, 1)]));
    return {
      results,
      rssMb: round(parsed.rssMb, 1),
      heapMb: round(parsed.totalHeapMb, 1),
      heapByThread: each(parsed.heapMb),
      heapPhysicalMb: round(parsed.totalPhysicalMb, 1),
      heapPhysicalByThread: each(parsed.physicalMb),
      externalMb: round(parsed.externalMb, 1),
    };
  } finally {
    lines.close();
  }
}

/** Keeps `queue` between 5,000 and 10,000 ready events until `total` have been published. */
async function feed(
  channel: amqp.ConfirmChannel,
  queue: string,
  total: number,
  signal: AbortSignal,
): Promise<void> {
  let published = 0;
  while (published < total && !signal.aborted) {
    const { messageCount } = await channel.checkQueue(queue);
    if (messageCount > 5_000) {
      await delay(50, undefined, { signal }).catch(() => undefined);
      continue;
    }
    const batch = Math.min(5_000, total - published);
    for (let i = published; i < published + batch; i++)
      channel.sendToQueue(queue, body(i), { persistent: true, messageId: `m-${i}` });
    await channel.waitForConfirms();
    published += batch;
  }
}

export interface LeakOptions {
  first: number;
  last: number;
  prefetch?: number;
  /**
   * Node options for the service besides the probe's; the launchers' when not given
   * (experiments: --max-semi-space-size=N; empty: V8's defaults).
   */
  nodeOptions?: string;
  /** Extra environment for the service (experiments: MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
}

export function runLeak(options: LeakOptions): Promise<LeakFigures> {
  return onFreshVhost('bench-leak', (vhost) => leakOn(vhost, options));
}

async function leakOn(vhost: TestVhost, options: LeakOptions): Promise<LeakFigures> {
  const { first, last, prefetch = 100 } = options;
  const admin = await amqp.connect(vhost.url);
  const stopFeeding = new AbortController();
  const env = {
    ...pipelineEnv(vhost.url, 'leak', prefetch),
    ...options.env,
    NODE_OPTIONS:
      `--expose-gc --import=${probe} ${options.nodeOptions ?? launcherNodeOptions}`.trim(),
  };
  let service: ServiceProcess | undefined;
  try {
    const channel = await admin.createConfirmChannel();
    await channel.assertQueue('leak.events', { durable: true });
    await channel.assertQueue('leak.results', { durable: true });
    // Results are counted and dropped as they come, so the broker holds no more than a few.
    let received = 0;
    const marks = new Map<number, () => void>();
    const reached = (n: number) => new Promise<void>((resolve) => marks.set(n, resolve));
    const atFirst = reached(first);
    const atLast = reached(last);
    await channel.consume(
      'leak.results',
      () => {
        received++;
        marks.get(received)?.();
      },
      { noAck: true },
    );
    // Beyond `last`, so the service is still at full rate when the second figure is taken.
    const feeding = feed(channel, 'leak.events', last + 20_000, stopFeeding.signal);
    feeding.catch(() => undefined); // awaited below; a broker outage must not go unhandled first
    service = new ServiceProcess({ app: 'sample', env });
    const running = service;
    const crashed = exitAsFailure(running, 'during the no-leak run');
    const take = async (mark: Promise<void>, n: number) => {
      await Promise.race([mark, crashed]);
      return footprint(running, n);
    };
    const a = await take(atFirst, first);
    const sustained = new PeakRss(running.pid);
    let peakRssMb: number;
    try {
      await Promise.race([atLast, crashed]);
    } finally {
      peakRssMb = round(sustained.stop(), 1);
    }
    const b = await take(atLast, last);
    stopFeeding.abort();
    await feeding;
    running.signal('SIGTERM');
    await running.waitForExit(30_000);
    return {
      first: a,
      last: b,
      rssRatio: round(b.rssMb / a.rssMb, 3),
      heapRatio: round(b.heapMb / a.heapMb, 3),
      peakRssMb,
    };
  } finally {
    stopFeeding.abort();
    await service?.stop();
    await admin.close();
  }
}

// CLI for memory experiments: node dist/bench/amqp/leak.js FIRST LAST ['NODE OPTIONS'] [K=V...]
if (import.meta.main) {
  const [first = '5000', last = '50000', nodeOptions = launcherNodeOptions, ...pairs] =
    process.argv.slice(2);
  const env = Object.fromEntries(pairs.map((p) => p.split('=', 2) as [string, string]));
  const result = await runLeak({ first: Number(first), last: Number(last), nodeOptions, env });
  process.stdout.write(`${JSON.stringify({ bench: 'leak', nodeOptions, env, ...result })}\n`);
}
