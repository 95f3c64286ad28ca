import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { setTimeout as delay } from 'node:timers/promises';
import { quietNanny } from '../quiet-nanny.js';
import { loadConfig } from '../../src/lib/primitives/config.js';
import { appConfigSchema, appEnv, defaultsFile } from '../../src/app/config.js';

/**
 * Child process of the memory case: starts `count` worker threads of one kind under the core's
 * Nanny (`core`: a worker that only waits, bench/workers/count.worker.ts; `sample`: the
 * sample's processor worker) or as plain `new Worker` (`bare`: an empty module that waits),
 * lets start-up garbage settle, prints `{"rssMb":..}` and exits.
 *
 * `node dist/bench/probes/threads-rss.js KIND COUNT`
 */
const [kind = 'core', countText = '0'] = process.argv.slice(2);
const count = Number(countText);
const modules: Record<string, URL> = {
  core: new URL('../workers/count.worker.js', import.meta.url),
  sample: new URL('../../src/app/workers/processor.worker.js', import.meta.url),
};
const module = modules[kind];
if (module === undefined && kind !== 'bare')
  throw new Error(`no worker kind ${kind}: bare, core or sample`);

const config = loadConfig({ schema: appConfigSchema, env: appEnv, defaultsFile, source: {} });
const controller = new AbortController();
const nanny = quietNanny({
  config,
  signal: controller.signal,
  die: (cause) => {
    throw cause;
  },
});
const bare: Worker[] = [];
for (let i = 0; i < count; i++) {
  if (module === undefined) {
    bare.push(new Worker('setInterval(() => {}, 60_000)', { eval: true }));
    await once(bare.at(-1) as Worker, 'online');
  } else nanny.add({ name: `w${i}`, module });
}
await nanny.start();
// A measurement choice, not a synchronisation: start-up garbage settles, as in the idle case.
await delay(500);
process.stdout.write(
  `${JSON.stringify({ kind, count, rssMb: process.memoryUsage().rss / 2 ** 20 })}\n`,
);
controller.abort();
await nanny.stopAll(5_000);
await Promise.all(bare.map((w) => w.terminate()));
