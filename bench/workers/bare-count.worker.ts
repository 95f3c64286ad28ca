import { workerData, type MessagePort } from 'node:worker_threads';

/** Baseline worker: raw postMessage on a MessagePort, same counting as count.worker.ts. */
const { port } = workerData as { port: MessagePort };
let seen = 0;
port.on('message', (message: { n: number; total: number } | 'stop') => {
  if (message === 'stop') {
    port.close();
    return;
  }
  if (++seen === message.total) {
    port.postMessage({ done: seen });
    seen = 0;
  }
});
