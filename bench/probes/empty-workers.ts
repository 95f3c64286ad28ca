import { Worker } from 'node:worker_threads';

/**
 * For bench/startup-floor.ts: a main module that starts `argv[2]` empty worker threads at once
 * and prints `ready` when every one has said it is up. Idles until TERM.
 */
const count = Number(process.argv[2] ?? 3);
const script = new URL('../workers/empty.worker.js', import.meta.url);
let up = 0;
const ready = (): void => void process.stdout.write('ready\n');
if (count === 0) ready();
for (let i = 0; i < count; i++) {
  new Worker(script).once('message', () => {
    if (++up === count) ready();
  });
}
process.on('SIGTERM', () => process.exit(0));
setInterval(() => undefined, 1 << 30);
