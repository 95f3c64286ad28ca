import { once } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import { quietNanny } from '../quiet-nanny.js';
import { loadConfig } from '../../src/lib/primitives/config.js';
import { coreConfigSchema, coreEnv } from '../../src/lib/runtime/core-config.js';
import { withCorrelationId } from '../../src/lib/primitives/correlation.js';
import type { ChannelContract } from '../../src/lib/threads/thread-channel.js';
import { median, round } from '../stats.js';
import { ratioCase, type Cases } from '../case.js';
import type { CountContract, DoneContract } from '../workers/count.worker.js';

/**
 * Thread-to-thread messages: the core's ThreadChannel (with a correlation id on every
 * message, as the pipeline sends them) against raw postMessage on a MessagePort, main thread
 * to one worker, the same count of the same small messages, alternated in one run.
 */

const defaultsFile = new URL('../../../config/default.json', import.meta.url);

async function coreRate(
  count: number,
  rounds: number,
  correlationId: string | undefined,
): Promise<number[]> {
  const config = loadConfig({ schema: coreConfigSchema, env: coreEnv, defaultsFile, source: {} });
  const controller = new AbortController();
  // A death fails the round instead of leaving it waiting: on a loaded machine a whole
  // round's messages kept the worker busy past 1.5 heartbeats (1 s), the nanny terminated it
  // as hung and the bench exited with an unsettled await. The worker is meant to be busy
  // here: its heartbeat is long.
  let died: (cause: unknown) => void = () => undefined;
  const death = new Promise<never>((_resolve, reject) => (died = reject));
  death.catch(() => undefined);
  const nanny = quietNanny({
    config,
    signal: controller.signal,
    die: (cause) => died(cause),
    heartbeatMs: 60_000,
  });
  nanny.add({ name: 'count', module: new URL('../workers/count.worker.js', import.meta.url) });
  await nanny.start();
  const channel = nanny.channel('count');
  const out = channel.as<CountContract>();
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const done = new Promise<void>((resolve) =>
      channel.as<ChannelContract, DoneContract>().serve(() => resolve()),
    );
    const started = performance.now();
    withCorrelationId(correlationId, () => {
      for (let n = 0; n < count; n++) out.notify({ n, total: count });
    });
    await Promise.race([done, death]);
    rates.push(count / ((performance.now() - started) / 1000));
  }
  controller.abort();
  await nanny.stopAll(2000);
  return rates;
}

async function rawRate(count: number, rounds: number): Promise<number[]> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('../workers/bare-count.worker.js', import.meta.url), {
    workerData: { port: port2 },
    transferList: [port2],
  });
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const done = once(port1, 'message');
    const started = performance.now();
    for (let n = 0; n < count; n++) port1.postMessage({ n, total: count });
    await done;
    rates.push(count / ((performance.now() - started) / 1000));
  }
  port1.postMessage('stop');
  port1.close();
  await once(worker, 'exit');
  return rates;
}

export async function threadCases(runs: number, count: number): Promise<Cases> {
  const core: number[] = [];
  const bare: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < runs; i++) {
    raw.push(...(await rawRate(count, 3)));
    core.push(...(await coreRate(count, 3, 'bench-correlation-id')));
    bare.push(...(await coreRate(count, 3, undefined)));
  }
  const ratioWithoutCorrelation = round(median(bare) / median(raw), 3);
  return {
    thread_ratio: ratioCase(
      core,
      raw,
      `${count} one-way messages main -> worker per round; ThreadChannel.notify with a correlation id (the channel sends the messages of one turn as one port message) vs one raw postMessage per message; ratioWithoutCorrelation: outside any correlation context (no AsyncLocalStorage getStore()/run() per message)`,
      { ratioWithoutCorrelation },
    ),
  };
}
