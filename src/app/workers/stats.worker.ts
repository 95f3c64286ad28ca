import { channelCloseTimeoutMs, runWorker, sleep, type ChannelContract } from '../../lib/worker.js';
import type { AppConfig } from '../config.js';
import type { StatsContract } from '../protocol.js';

/** Keeps throughput and latency figures of processed events and logs them every 10 s. */
const intervalMs = 10_000;

runWorker<AppConfig>(async (ctx) => {
  const main = ctx.main.as<ChannelContract, StatsContract>();
  let total = 0;
  let window: number[] = [];
  main.serve(({ latenciesMs }) => {
    total += latenciesMs.length;
    for (const ms of latenciesMs) window.push(ms);
  });
  const logFigures = (): void => {
    const sorted = window.sort((a, b) => a - b);
    ctx.log.info(
      {
        total,
        perSecond: Math.round((sorted.length * 1000) / intervalMs),
        latencyP50Ms: sorted[Math.floor(sorted.length * 0.5)] ?? null,
        latencyP99Ms: sorted[Math.floor(sorted.length * 0.99)] ?? null,
      },
      'throughput',
    );
    window = [];
  };
  while (await sleep(intervalMs, ctx.signal)) logFigures();
  // Notes the main thread sent before it stopped this thread may still be on their way (they
  // travel on another port than the shutdown message): close the channel first, which takes
  // in everything sent before (see closeGracefully), so the last figures count every event.
  await main.closeGracefully(channelCloseTimeoutMs);
  logFigures();
});
