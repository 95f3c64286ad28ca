import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { setTimeout as delay } from 'node:timers/promises';
import { quietNanny } from '../quiet-nanny.js';
import { loadConfig } from '../../src/lib/primitives/config.js';
import { coreConfigSchema, coreEnv } from '../../src/lib/index.js';

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

// The core's schema, the app's sections kept as they are (`loose`): the bench builds without
// src/app, which a fork deletes, and the sample's worker still gets its section.
const config = loadConfig({
  schema: coreConfigSchema.loose(),
  env: coreEnv,
  defaultsFile: new URL('../../../config/default.json', import.meta.url),
  source: {},
});
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
