import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, untilAborted } from '../../../src/lib/primitives/waits.js';

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
