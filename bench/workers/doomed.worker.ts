import { runWorker } from '../../src/lib/threads/run-worker.js';
import { absoluteNow } from '../stats.js';

/**
 * Bench worker under the core runtime: after `afterMs` it exits or blocks its event loop for
 * good, first writing the absolute time of that moment into shared memory, so the main thread
 * can measure how long the nanny takes to notice.
 */
export interface DoomedSettings {
  mode: 'exit' | 'hang';
  stamp: SharedArrayBuffer;
  afterMs: number;
}

runWorker(async (ctx) => {
  const { mode, stamp, afterMs } = (ctx.config as unknown as { bench: DoomedSettings }).bench;
  await new Promise((r) => setTimeout(r, afterMs));
  new Float64Array(stamp)[0] = absoluteNow();
  if (mode === 'exit') process.exit(1);
  for (;;) {
    // Block the event loop for good: only terminate() ends this.
  }
});
