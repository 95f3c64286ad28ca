import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
// The baseline is bare amqplib, on purpose: it measures what the core costs on top of it.
import * as amqp from 'amqplib';
import { ServiceProcess } from '../test/helpers/service-process.js';
import { createVhost } from '../test/helpers/broker.js';
import { median, paired, round } from './stats.js';

/**
 * AMQP throughput: `count` messages through the whole sample pipeline (the built service as
 * a child process: consumer, processor thread, ZeroMQ, confirmed result, ack) and, in the
 * same run, through a bare amqplib loop in this process (consume, publish the same result
 * with a confirm, ack on the confirm), with the same prefetch, on the same broker. Each run
 * starts with `count` messages waiting; it is timed from the consumer's start to the last
 * result in the results queue. Not a test: figures only.
 *
 * CLI: `node dist/bench/amqp.js [count] [prefetch] [rounds]`; prints one JSON object.
 */

export interface AmqpBenchOptions {
  /** Messages per run; at least 50,000 for the published figure. */
  count: number;
  /** Prefetch of both consumers (default 100). */
  prefetch?: number;
  /** Runs of (bare, pipeline), alternated; the medians are reported (default 5). */
  rounds?: number;
}

export interface AmqpBenchResult {
  count: number;
  prefetch: number;
  /** Messages per second through the whole pipeline. */
  pipelineRate: number;
  /** Messages per second through the bare amqplib loop. */
  bareRate: number;
  /** pipelineRate / bareRate. */
  ratio: number;
  /** Every round's rates, in run order, to show the spread on a shared machine. */
  samples: Array<{ bareRate: number; pipelineRate: number }>;
}

const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];

function body(i: number): Buffer {
  const text = Array.from({ length: 3 + (i % 5) }, (_, k) => words[(i + k * 3) % words.length]);
  return Buffer.from(JSON.stringify({ text: text.join(' '), seq: i }));
}

async function fill(channel: amqp.ConfirmChannel, queue: string, count: number): Promise<void> {
  await channel.assertQueue(queue, { durable: true });
  for (let i = 0; i < count; i++) {
    channel.sendToQueue(queue, body(i), { persistent: true, messageId: `m-${i}` });
    if (i % 1000 === 999) await channel.waitForConfirms();
  }
  await channel.waitForConfirms();
}

/** Resolves when `queue` holds `count` ready messages; polls every 20 ms. */
async function untilDepth(channel: amqp.Channel, queue: string, count: number): Promise<number> {
  for (;;) {
    const { messageCount } = await channel.checkQueue(queue);
    if (messageCount >= count) return performance.now();
    await delay(20);
  }
}

/** One pipeline run; `env` adds to the service's environment (bench/cases/tracing.ts). */
export async function runPipeline(
  url: string,
  name: string,
  count: number,
  prefetch: number,
  env: Record<string, string> = {},
): Promise<number> {
  const admin = await amqp.connect(url);
  const channel = await admin.createConfirmChannel();
  await fill(channel, `${name}.events`, count);
  const service = new ServiceProcess({
    env: {
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
      ...env,
    },
  });
  try {
    // The consumer's start, read from its own log line (same clock: wall time).
    const started = await service.waitFor('consumer started', 30_000);
    const startedAt = performance.now() - (Date.now() - Date.parse(String(started['time'])));
    await channel.assertQueue(`${name}.results`, { durable: true });
    const endedAt = await untilDepth(channel, `${name}.results`, count);
    service.signal('SIGTERM');
    await service.waitForExit(30_000);
    return count / ((endedAt - startedAt) / 1000);
  } finally {
    await service.stop();
    await admin.close();
  }
}

export async function runBare(
  url: string,
  name: string,
  count: number,
  prefetch: number,
): Promise<number> {
  const connection = await amqp.connect(url);
  try {
    const admin = await connection.createConfirmChannel();
    await fill(admin, `${name}.events`, count);
    await admin.assertQueue(`${name}.results`, { durable: true });
    const channel = await connection.createConfirmChannel();
    await channel.prefetch(prefetch);
    let closing = false;
    const startedAt = performance.now();
    await channel.consume(`${name}.events`, (message) => {
      if (message === null) return;
      const event = JSON.parse(message.content.toString()) as { text: string };
      const result = {
        eventId: message.properties.messageId as string,
        digest: createHash('sha256').update(event.text).digest('hex'),
        words: event.text.split(/\s+/).filter(Boolean).length,
        processedAt: new Date().toISOString(),
        processedBy: 'bare',
        attempt: 1,
      };
      channel.publish(
        '',
        `${name}.results`,
        Buffer.from(JSON.stringify(result)),
        {
          persistent: true,
          contentType: 'application/json',
          messageId: message.properties.messageId as string,
          correlationId: message.properties.messageId as string,
        },
        (error: unknown) => {
          // After the last result the bench closes the connection: no ack or nack then.
          if (closing) return;
          if (error === null || error === undefined) channel.ack(message);
          else channel.nack(message);
        },
      );
    });
    const endedAt = await untilDepth(admin, `${name}.results`, count);
    await channel.waitForConfirms();
    closing = true;
    return count / ((endedAt - startedAt) / 1000);
  } finally {
    await connection.close();
  }
}

/** Runs one case on a vhost of its own, removed after: no run sees another's queues or messages. */
export async function onFreshVhost(
  run: (url: string, name: string) => Promise<number>,
  name: string,
): Promise<number> {
  const vhost = await createVhost('bench');
  try {
    return await run(vhost.url, name);
  } finally {
    await vhost.remove();
  }
}

/**
 * Runs both cases `rounds` times, alternating, each on a fresh vhost, and returns the median
 * rates and their ratio. A fresh vhost per run matters: the broker's speed drifts with what it
 * holds (the results of earlier runs were 50,000 persistent messages each).
 */
export async function runAmqpBench(options: AmqpBenchOptions): Promise<AmqpBenchResult> {
  const { count } = options;
  const prefetch = options.prefetch ?? 100;
  const { values, baselines } = await paired(
    options.rounds ?? 5,
    () => onFreshVhost((url, name) => runPipeline(url, name, count, prefetch), 'pipeline'),
    () => onFreshVhost((url, name) => runBare(url, name, count, prefetch), 'bare'),
  );
  const pipelineRate = median(values);
  const bareRate = median(baselines);
  return {
    count,
    prefetch,
    pipelineRate: round(pipelineRate, 0),
    bareRate: round(bareRate, 0),
    ratio: round(pipelineRate / bareRate, 3),
    samples: values.map((v, i) => ({
      bareRate: round(baselines[i] ?? Number.NaN, 0),
      pipelineRate: round(v, 0),
    })),
  };
}

if (import.meta.main) {
  const count = Number(process.argv[2] ?? 50_000);
  const prefetch = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  const rounds = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
  const result = await runAmqpBench({ count, prefetch, rounds });
  process.stdout.write(`${JSON.stringify({ bench: 'amqp', ...result })}\n`);
}
