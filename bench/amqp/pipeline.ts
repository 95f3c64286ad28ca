import * as amqp from 'amqplib';
import { ServiceProcess } from '../../test/helpers/service-process.js';
import { fill, untilDepth } from './messages.js';
import { measureDrain, type RunFigures } from './figures.js';
import { launcherNodeOptions, semiSpaceEnv } from '../proc.js';

/**
 * The whole sample pipeline: the built service as a child process (consumer, processor
 * thread, ZeroMQ, confirmed result, ack) draining `count` waiting events. Timed from the
 * consumer's own `consumer started` line to the last result in the results queue.
 */

/**
 * The service's settings for a bench run on `url` with queues named after `name`: its node
 * options are the launchers' (`launcherNodeOptions`) unless BENCH_SERVICE_NODE_OPTIONS, for
 * experiments, replaces them (e.g. `--max-semi-space-size=4`; empty: none).
 */
export function pipelineEnv(url: string, name: string, prefetch: number): Record<string, string> {
  return {
    NODE_OPTIONS: process.env['BENCH_SERVICE_NODE_OPTIONS'] ?? launcherNodeOptions,
    ...semiSpaceEnv,
    AMQP_URL: url,
    AMQP_PREFETCH: String(prefetch),
    AMQP_EXCHANGE: name,
    AMQP_INPUT_QUEUE: `${name}.events`,
    AMQP_RESULTS_QUEUE: `${name}.results`,
    AMQP_FAILED_QUEUE: `${name}.failed`,
    // fill() declares a classic queue, as the bare loop uses: like against like.
    AMQP_QUEUE_TYPE: 'classic',
    ZMQ_PUB_ENDPOINT: 'tcp://127.0.0.1:*',
    SAMPLE_WORK_MS: '0',
    LOG_PRETTY: 'false',
  };
}

/** performance.now() of a log line's own `time` (wall clock, as pino writes it). */
export function loggedAt(line: Record<string, unknown>): number {
  return performance.now() - (Date.now() - Date.parse(String(line['time'])));
}

/** Rejects, with the service's last lines, when the service exits (never resolves). */
export function exitAsFailure(service: ServiceProcess, during: string): Promise<never> {
  const failure = service.exited.then(({ code, signal }) => {
    throw new Error(
      `the service exited (${String(code ?? signal)}) ${during}; last lines:\n${service.tail(5)}`,
    );
  });
  failure.catch(() => undefined); // handled by whoever races it; no unhandled rejection later
  return failure;
}

/**
 * Resolves when `queue` holds `count` results; rejects when the service exits first (a crash
 * must fail the bench, not leave it polling).
 */
export async function untilDone(
  service: ServiceProcess,
  channel: amqp.Channel,
  queue: string,
  count: number,
): Promise<number> {
  const polling = new AbortController();
  try {
    return await Promise.race([
      untilDepth(channel, queue, count, polling.signal),
      exitAsFailure(service, `before ${count} results`),
    ]);
  } finally {
    polling.abort();
  }
}

/**
 * One pipeline run: `warmUp + count` events, measured over the last `count` (measureDrain);
 * `env` adds to the service's environment (bench/cases/tracing.ts).
 */
export async function runPipeline(
  url: string,
  name: string,
  count: number,
  prefetch: number,
  broker: number,
  warmUp = 0,
  env: Record<string, string> = {},
): Promise<RunFigures> {
  const admin = await amqp.connect(url);
  const channel = await admin.createConfirmChannel();
  await fill(channel, `${name}.events`, warmUp + count);
  await channel.assertQueue(`${name}.results`, { durable: true });
  const service = new ServiceProcess({
    app: 'sample',
    env: { ...pipelineEnv(url, name, prefetch), ...env },
  });
  try {
    const started = await service.waitFor('consumer started', 30_000);
    const figures = await measureDrain({
      source: service.pid,
      broker,
      startedAt: loggedAt(started),
      warmUp,
      count,
      resultsReach: (n) => untilDone(service, channel, `${name}.results`, n),
    });
    service.signal('SIGTERM');
    const { code } = await service.waitForExit(30_000);
    if (code !== 0) throw new Error(`the service exited with ${String(code)} after TERM`);
    return figures;
  } finally {
    await service.stop();
    await admin.close();
  }
}
