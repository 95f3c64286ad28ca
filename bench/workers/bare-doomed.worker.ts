import { workerData } from 'node:worker_threads';
import { absoluteNow } from '../stats.js';

/** Baseline worker: plain worker_threads, stamps the time and exits after `afterMs`. */
const { stamp, afterMs } = workerData as { stamp: SharedArrayBuffer; afterMs: number };
setTimeout(() => {
  new Float64Array(stamp)[0] = absoluteNow();
  process.exit(1);
}, afterMs);
