import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { rssMb } from './proc.js';
import { median, round } from './stats.js';

/**
 * The floor under `startup_ms` and `idle_rss_mb`: what Node alone costs for the sample's shape,
 * a main thread and N worker threads, with none of our code or dependencies. Spawns
 * bench/probes/empty-workers.js with 0, 1 and 3 empty workers, alternated, `rounds` times:
 * spawn to its `ready` line, then VmRSS 500 ms later (as `idle_rss_mb` takes it). Prints JSON.
 * Figures for docs/performance.md; not a case.
 *
 * CLI: `node dist/bench/startup-floor.js [rounds]`
 */

const rounds = Number(process.argv[2] ?? 7);
const probe = fileURLToPath(new URL('./probes/empty-workers.js', import.meta.url));

async function run(workers: number): Promise<{ ms: number; rss: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [probe, String(workers)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const ms = performance.now() - started;
    if (!line.toString().startsWith('ready')) throw new Error(`unexpected output: ${String(line)}`);
    await delay(500);
    return { ms, rss: rssMb(child.pid as number) };
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}

const shapes = [0, 1, 3];
const figures = new Map(shapes.map((n) => [n, { ms: [] as number[], rss: [] as number[] }]));
for (let r = 0; r < rounds; r++) {
  for (const n of shapes) {
    const { ms, rss } = await run(n);
    figures.get(n)?.ms.push(ms);
    figures.get(n)?.rss.push(rss);
  }
}
console.log(
  JSON.stringify({
    rounds,
    node: process.version,
    byWorkers: shapes.map((n) => {
      const f = figures.get(n) ?? { ms: [], rss: [] };
      return { workers: n, readyMs: round(median(f.ms), 1), rssMb: round(median(f.rss), 1) };
    }),
  }),
);
