import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { mainScript, repoRoot, testEnv } from '../helpers/service-process.js';

/**
 * The old generation's growing factor (HEAP_GROWING_PERCENT, runtime/gc-settings.ts) holds in
 * the running service's worker threads: a preload churns old-generation garbage in each
 * (test/fixtures/heap-growth-probe.ts) and reports the peak RAM of its heap and its full GCs,
 * once with the default (50%) and once with V8's own factor (0).
 */

const probe = fileURLToPath(new URL('../fixtures/heap-growth-probe.js', import.meta.url));

interface ProbeFigures {
  thread: number;
  peakMb: number;
  majors: number;
}

/** Each worker thread's figures in the fixture service started with `env`. */
async function probeWorkers(env: Record<string, string>): Promise<ProbeFigures[]> {
  const child = spawn(process.execPath, [mainScript], {
    cwd: repoRoot,
    env: testEnv({ NODE_OPTIONS: `--import=${probe}`, LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = once(child, 'exit');
  const figures: ProbeFigures[] = [];
  const stderr: string[] = [];
  try {
    // The fixture runs 3 worker threads; each reports once its churn is done.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${figures.length} of 3 probes reported; stderr:\n${stderr.join('\n')}`));
      }, 60_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the service exited (${String(code)}); stderr:\n${stderr.join('\n')}`));
      });
      createInterface({ input: child.stderr }).on('line', (text) => {
        stderr.push(text);
        if (!text.startsWith('heap-growth-probe ')) return;
        figures.push(JSON.parse(text.slice('heap-growth-probe '.length)) as ProbeFigures);
        if (figures.length < 3) return;
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  return figures;
}

const median = (values: number[]): number => values.toSorted((a, b) => a - b)[1] ?? NaN;

describe('the old generation growing factor', { timeout: 150_000 }, () => {
  test('by default, worker threads collect old garbage sooner and hold less RAM than with V8 factor', async () => {
    const fixed = await probeWorkers({});
    const v8s = await probeWorkers({ HEAP_GROWING_PERCENT: '0' });
    const shown = JSON.stringify({ fixed, v8s });
    console.log(`heap-growth-probe, default and HEAP_GROWING_PERCENT=0: ${shown}`);
    const peak = (f: ProbeFigures[]) => median(f.map((x) => x.peakMb));
    const majors = (f: ProbeFigures[]) => median(f.map((x) => x.majors));
    // Measured: peaks of 48 MiB against 109, 31 full GCs against 7.
    assert.ok(peak(fixed) < 0.7 * peak(v8s), `peak heap RAM: ${shown}`);
    assert.ok(majors(fixed) > 2 * majors(v8s), `full GCs: ${shown}`);
  });
});
