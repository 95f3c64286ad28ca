import { newCorrelationId, runWorker, sleep, withCorrelationId } from '../../lib/worker.js';
import type { AppConfig } from '../config.js';
import { makeEvent } from '../events.js';
import type { IntakeContract } from '../protocol.js';

/**
 * The sample's source of work: makes one synthetic event every `sample.eventIntervalMs` and
 * hands it to the main thread, each under a new correlation id. Stops at once on shutdown:
 * the next event is simply never made.
 */
runWorker<AppConfig>(async (ctx) => {
  const main = ctx.main.as<IntakeContract>();
  let sequence = 0;
  while (await sleep(ctx.config.sample.eventIntervalMs, ctx.signal)) {
    const event = makeEvent(sequence++);
    await withCorrelationId(newCorrelationId(), async () => {
      ctx.log.debug({ eventId: event.id }, 'event produced');
      await main.request({ event }, ctx.signal);
    });
  }
  ctx.log.info({ produced: sequence }, 'producer stopped');
});
