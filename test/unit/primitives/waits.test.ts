import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { setTimeout as sleepFor } from 'node:timers/promises';
import {
  maxTimerMs,
  raceAbort,
  sleep,
  timedOut,
  untilAborted,
  withTimeout,
} from '../../../src/lib/primitives/waits.js';

test('sleep() returns false as soon as the signal aborts, long before its time', async () => {
  const controller = new AbortController();
  const sleeping = sleep(60_000, controller.signal);
  queueMicrotask(() => controller.abort());
  assert.equal(await sleeping, false);
});

test('sleep() returns true after the full time when nothing aborts', async () => {
  assert.equal(await sleep(5, new AbortController().signal), true);
});

test('sleep() on an already aborted signal returns false at once', async () => {
  assert.equal(await sleep(60_000, AbortSignal.abort()), false);
});

test('untilAborted() resolves on abort and at once when already aborted', async () => {
  const controller = new AbortController();
  const waiting = untilAborted(controller.signal);
  controller.abort();
  await waiting;
  await untilAborted(controller.signal);
});

/** Timers alive in this process now (Node lists each as 'Timeout'). */
function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test('withTimeout() resolves with the value, and its timer is gone once it settles', async () => {
  const before = activeTimers();
  const pending = withTimeout(Promise.resolve(7), 60_000);
  assert.equal(activeTimers(), before + 1);
  assert.equal(await pending, 7);
  assert.equal(activeTimers(), before);
});

test('withTimeout() rejects with the work error in time, and its timer is gone', async () => {
  const before = activeTimers();
  await assert.rejects(withTimeout(Promise.reject(new Error('boom')), 60_000), /boom/);
  assert.equal(activeTimers(), before);
});

test('withTimeout() resolves with timedOut when the work takes longer; a late rejection is swallowed', async () => {
  let fail: (error: Error) => void = () => undefined;
  const work = new Promise<number>((_resolve, reject) => (fail = reject));
  assert.equal(await withTimeout(work, 5), timedOut);
  // Would be an unhandled rejection (the test runner fails on it) if nobody caught it.
  fail(new Error('late'));
  await new Promise((resolve) => setImmediate(resolve));
});

test("withTimeout() keeps the process alive until its time is up (its timer is ref'd)", () => {
  const module = new URL('../../../src/lib/primitives/waits.js', import.meta.url).href;
  const script =
    `const { withTimeout, timedOut } = await import(${JSON.stringify(module)});\n` +
    `const r = await withTimeout(new Promise(() => {}), 50);\n` +
    `process.stdout.write(r === timedOut ? 'timed out' : 'other');`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(child.stdout, 'timed out', child.stderr);
  assert.equal(child.status, 0);
});

test('raceAbort() settles as the work does, and leaves no listener on the signal', async () => {
  const controller = new AbortController();
  assert.equal(await raceAbort(Promise.resolve('done'), controller.signal), 'done');
  await assert.rejects(raceAbort(Promise.reject(new Error('boom')), controller.signal), /boom/);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

test('raceAbort() rejects with the abort reason as soon as the signal aborts', async () => {
  const controller = new AbortController();
  const reason = new Error('stop requested');
  const racing = raceAbort(new Promise(() => undefined), controller.signal);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  controller.abort(reason);
  await assert.rejects(racing, (error) => error === reason);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

test('raceAbort() on an aborted signal rejects at once; a reason that is no Error becomes an AbortError', async () => {
  await assert.rejects(raceAbort(Promise.resolve(1), AbortSignal.abort('just a string')), {
    name: 'AbortError',
  });
  const already = AbortSignal.abort();
  await assert.rejects(raceAbort(Promise.reject(new Error('late')), already), {
    name: 'AbortError',
  });
});

test('sleep() and withTimeout() past the longest timer wait, not 1 ms (Node fires a longer timer at once)', async () => {
  const controller = new AbortController();
  const slept = sleep(maxTimerMs + 1, controller.signal);
  const work = Promise.withResolvers<string>();
  const bounded = withTimeout(work.promise, maxTimerMs + 1);
  await sleepFor(100);
  controller.abort();
  assert.equal(await slept, false, 'the sleep ran its course, so its timer fired early');
  work.resolve('done');
  assert.equal(await bounded, 'done', 'the timeout fired early');
});
