import { runWorker } from '../../lib/threads/worker-runtime.js';
import { untilAborted } from '../../lib/lifecycle/sleep.js';
import { TransientError } from '../../lib/errors.js';
import type { AppConfig } from '../config.js';
import { assertEvent, processEvent } from '../events.js';
import type { ChannelContract } from '../../lib/threads/thread-channel.js';
import type { ProcessContract } from '../protocol.js';

/**
 * Does the sample's work for the main thread. Work in hand when shutdown comes is finished
 * (the runtime drains the channel before the thread ends); new work is refused as transient.
 */
runWorker<AppConfig>(async (ctx) => {
  const main = ctx.main.as<ChannelContract, ProcessContract>();
  let processed = 0;
  main.serve(async ({ event }) => {
    if (ctx.signal.aborted) throw new TransientError('processor is shutting down');
    assertEvent(event);
    const started = performance.now();
    const result = await processEvent(event, ctx.config.sample.workMs, ctx.name);
    ctx.metrics.timing('work_ms', performance.now() - started);
    processed++;
    ctx.log.debug({ eventId: event.id }, 'event processed');
    return result;
  });
  await untilAborted(ctx.signal);
  ctx.log.info({ processed, inFlight: main.active }, 'processor stopping');
});
