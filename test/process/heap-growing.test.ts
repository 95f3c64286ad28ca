import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { probedService } from '../helpers/probed-service.js';

/**
 * The old generation's growing factor (HEAP_GROWING_PERCENT, runtime/gc-settings.ts) holds in
 * every thread of the running service: a preload churns old-generation garbage in each
 * (test/fixtures/heap-growth-probe.ts: the workers as they start, the main thread on SIGUSR2)
 * and reports the peak RAM of its heap and its full GCs, once with the default (50%) and once
 * with V8's own factor (0).
 */

const probe = fileURLToPath(new URL('../fixtures/heap-growth-probe.js', import.meta.url));

interface ProbeFigures {
  thread: number;
  peakMb: number;
  majors: number;
}

/** The figures of each thread of the fixture service started with `env`; main's last. */
function probeThreads(env: Record<string, string>): Promise<ProbeFigures[]> {
  // The fixture runs 3 worker threads; each reports once its churn is done, and then the main
  // thread is asked to churn.
  return probedService<ProbeFigures>({
    probe,
    prefix: 'heap-growth-probe',
    count: 4,
    env,
    onProbe: (received, child) => {
      if (received === 3) child.kill('SIGUSR2');
    },
  });
}

const median = (values: number[]): number => values.toSorted((a, b) => a - b)[1] ?? NaN;

describe('the old generation growing factor', { timeout: 150_000 }, () => {
  test("by default, every thread collects old garbage sooner and holds less RAM than with V8's factor", async () => {
    const fixed = await probeThreads({});
    const v8s = await probeThreads({ HEAP_GROWING_PERCENT: '0' });
    const shown = JSON.stringify({ fixed, v8s });
    console.log(`heap-growth-probe, default and HEAP_GROWING_PERCENT=0: ${shown}`);
    const workers = (f: ProbeFigures[]) => f.filter((x) => x.thread !== 0);
    const main = (f: ProbeFigures[]) => f.find((x) => x.thread === 0);
    assert.equal(workers(fixed).length, 3, shown);
    const peak = (f: ProbeFigures[]) => median(workers(f).map((x) => x.peakMb));
    const majors = (f: ProbeFigures[]) => median(workers(f).map((x) => x.majors));
    // Measured in the workers: peaks of 44-81 MiB against 103-151, 27-33 full GCs against 6-7;
    // the medians' ratio 0.53 in one CI run and 0.73 in another, loaded (concurrent
    // marking lags the churn there), so the peak's bound is 0.8 and the full GCs are the
    // steadier sign. With the setting not applied both ratios are about 1.
    assert.ok(peak(fixed) < 0.8 * peak(v8s), `workers' peak heap RAM: ${shown}`);
    assert.ok(majors(fixed) > 2 * majors(v8s), `workers' full GCs: ${shown}`);
    // The main thread's heap was made before the settings: the factor still reaches it.
    // Measured (4 runs, quiet machine): peaks of 200-228 MiB against 335-389, 6-7 full GCs
    // against 3; in a CI tier under load 240 against 303 (concurrent marking lags the churn),
    // so main's bound is looser than the workers', and its full GCs are counted too. Under
    // the heaviest load (the fork tier, where the whole suite runs again beside the others)
    // one pair of runs can show almost nothing (196 against 218 MiB, 3 against 2 full GCs):
    // then one more pair decides. With the setting not applied, both pairs fail.
    const mainHolds = (a: ProbeFigures[], b: ProbeFigures[]): boolean =>
      main(a)!.peakMb < 0.85 * main(b)!.peakMb && main(a)!.majors > 1.5 * main(b)!.majors;
    if (mainHolds(fixed, v8s)) return;
    const fixedAgain = await probeThreads({});
    const v8sAgain = await probeThreads({ HEAP_GROWING_PERCENT: '0' });
    const shownAgain = JSON.stringify({ fixedAgain, v8sAgain });
    console.log(`heap-growth-probe, main's second pair: ${shownAgain}`);
    assert.ok(
      mainHolds(fixedAgain, v8sAgain),
      `main's peak heap RAM below 0.85x and full GCs above 1.5x, in neither pair: ${shown} ${shownAgain}`,
    );
  });
});
