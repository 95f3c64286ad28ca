import { parentPort } from 'node:worker_threads';

/** An empty worker thread for bench/startup-floor.ts: says it is up, then idles. */
parentPort?.postMessage('ready');
setInterval(() => undefined, 1 << 30);
