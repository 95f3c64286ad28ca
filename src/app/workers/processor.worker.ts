import { TransientError, runWorker, untilAborted, type ChannelContract } from '../../lib/worker.js';
import type { AppConfig } from '../config.js';
import { applyFaultHook, parseEvent, processEvent } from '../events.js';
import type { ProcessContract } from '../protocol.js';

/**
 * Does the sample's work for the main thread: parses the event (poison is a PermanentError),
 * processes it, and answers with the result's JSON. Work in hand when shutdown comes is finished
 * (the runtime drains the channel before the thread ends); new work is refused as transient.
 * Honours the events' fault hook (`fail`, `times`: see SampleEvent) only when
 * `sample.faultHooks` is on (SAMPLE_FAULT_HOOKS, off by default: otherwise any producer could
 * fail events, and report bugs, at will); the core's `crash-on:TEXT`
 * and `hang-on:TEXT` drills strike on any request a worker serves, this one's included.
 */
runWorker<AppConfig>(async (ctx) => {
  const main = ctx.main.as<ChannelContract, ProcessContract>();
  let processed = 0;
  main.serve(async ({ json, messageId, attempt = 1 }) => {
    if (ctx.signal.aborted) throw new TransientError('processor is shutting down');
    const event = parseEvent(json, messageId);
    if (ctx.config.sample.faultHooks) applyFaultHook(event, attempt);
    const started = performance.now();
    const result = await processEvent(event, ctx.config.sample.workMs, ctx.name, attempt);
    ctx.metrics.timing('work_seconds', performance.now() - started);
    processed++;
    ctx.log.debug({ eventId: event.id }, 'event processed');
    return { eventId: event.id, json: JSON.stringify(result) };
  });
  await untilAborted(ctx.signal);
  ctx.log.info({ processed, inFlight: main.active }, 'processor stopping');
});
