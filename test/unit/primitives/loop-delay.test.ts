import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleepFor } from 'node:timers/promises';
import {
  loopDelayProbeMs,
  startLoopDelayProbe,
  type LoopDelayProbe,
} from '../../../src/lib/primitives/loop-delay.js';

/** A probe that the test's end stops. */
function probeFor(t: TestContext): LoopDelayProbe {
  const probe = startLoopDelayProbe();
  t.after(() => probe.stop());
  return probe;
}

/** Holds this thread's event loop for `ms`, as a synchronous task would. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('an idle loop reads as on time, not as the probe interval', async (t) => {
  const probe = probeFor(t);
  await sleepFor(loopDelayProbeMs * 6);
  // A reading of the whole interval between two runs would be the interval or more.
  assert.ok(probe.take() < loopDelayProbeMs * 0.8);
});

test('a block in the middle of a window is read at its length, less up to the probe interval', async (t) => {
  const probe = probeFor(t);
  await sleepFor(120);
  block(300);
  await sleepFor(120);
  const delay = probe.take();
  assert.ok(delay >= 300 - loopDelayProbeMs && delay < 1000, `read ${String(delay)} ms`);
});

test('a block that ends just before the take is read in that window, and not again in the next', async (t) => {
  const probe = probeFor(t);
  await sleepFor(120);
  probe.take();
  block(300);
  // Nothing has run since the block: the probe's own timer is still overdue.
  const delay = probe.take();
  assert.ok(delay >= 300 - loopDelayProbeMs, `read ${String(delay)} ms`);
  await sleepFor(loopDelayProbeMs * 4);
  const next = probe.take();
  assert.ok(next < 200, `the next window read ${String(next)} ms`);
});

test('takes more often than the probe runs still see a block', async (t) => {
  const probe = probeFor(t);
  const readings: number[] = [];
  const taker = setInterval(() => readings.push(probe.take()), loopDelayProbeMs / 3);
  t.after(() => clearInterval(taker));
  await sleepFor(100);
  block(200);
  await sleepFor(150);
  assert.ok(Math.max(...readings) >= 200 - loopDelayProbeMs, `readings: ${readings.join(' ')}`);
});

test('the probe never holds the process open, and stopping twice is harmless', () => {
  const url = new URL('../../../src/lib/primitives/loop-delay.js', import.meta.url).href;
  const script = `const { startLoopDelayProbe } = await import(${JSON.stringify(url)}); startLoopDelayProbe();`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    timeout: 10_000,
  });
  assert.equal(run.status, 0, String(run.stderr));
  const probe = startLoopDelayProbe();
  probe.stop();
  probe.stop();
});
