import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Cases } from '../case.js';
import { median, round } from '../stats.js';

/**
 * The cost of one worker thread in RSS: processes with 0 and with `many` worker threads under
 * the core's Nanny, alternated, for a core worker that only waits and for the sample's
 * processor worker (what it imports is part of its cost), against plain `new Worker` threads
 * of an empty script. Per thread: the difference of the medians over `many`.
 */

const run = promisify(execFile);
const probe = fileURLToPath(new URL('../probes/threads-rss.js', import.meta.url));

async function rss(kind: string, count: number): Promise<number> {
  const { stdout } = await run(process.execPath, [probe, kind, String(count)], {
    timeout: 60_000,
  });
  return (JSON.parse(stdout) as { rssMb: number }).rssMb;
}

export async function memoryCases(runs: number, many = 3): Promise<Cases> {
  const none: number[] = [];
  const core: number[] = [];
  const sample: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    none.push(await rss('core', 0));
    bare.push(await rss('bare', many));
    core.push(await rss('core', many));
    sample.push(await rss('sample', many));
  }
  const base = median(none);
  const perCore = round((median(core) - base) / many, 1);
  const perSample = round((median(sample) - base) / many, 1);
  const perBare = round((median(bare) - base) / many, 1);
  return {
    thread_rss_mb: {
      value: perSample,
      unit: 'MiB',
      baseline: round(base, 1),
      ratio: round(perSample / perBare),
      target: 'reported',
      meetsTarget: true,
      coreWorkerMb: perCore,
      bareWorkerMb: perBare,
      samples: sample.map((x) => round(x, 1)),
      baselineSamples: none.map((x) => round(x, 1)),
      coreSamples: core.map((x) => round(x, 1)),
      notes: `RSS per worker thread: (RSS with ${many} sample processor workers under the Nanny - RSS with none) / ${many}, medians of ${runs}; coreWorkerMb: the same for a core worker that only waits; bareWorkerMb: for a plain new Worker of an empty script (ratio: sample / bare); baseline: the MiB with no worker`,
    },
  };
}
