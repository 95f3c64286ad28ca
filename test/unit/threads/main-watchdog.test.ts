import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MainPulse, MainWatch } from '../../../src/lib/threads/main-watchdog.js';

/** The watch's decisions, on a pulse moved by hand and clocks given explicitly. */

test('silent past the limit: the first watch writes and kills, once', () => {
  const { shared } = new MainPulse();
  const watch = new MainWatch(shared, 1_000, 0);
  assert.equal(watch.check(999), undefined);
  assert.deepEqual(watch.check(1_000), { action: 'write-and-kill', silentMs: 1_000 });
  assert.equal(watch.check(1_500), undefined, 'it fired already; the kill is under way');
});

test('a pulse resets the silence', () => {
  const { shared } = new MainPulse();
  const watch = new MainWatch(shared, 1_000, 0);
  assert.equal(watch.check(900), undefined);
  Atomics.add(shared, 0, 1);
  assert.equal(watch.check(950), undefined);
  assert.equal(watch.check(1_900), undefined, 'silent 950 ms since the pulse');
  assert.equal(watch.check(1_950)?.action, 'write-and-kill');
});

test("another watch leaves the line to the first, and kills past twice the limit (the first's write may hang)", () => {
  const { shared } = new MainPulse();
  const first = new MainWatch(shared, 1_000, 0);
  const second = new MainWatch(shared, 1_000, 0);
  assert.equal(first.check(1_000)?.action, 'write-and-kill');
  assert.equal(second.check(1_000), undefined);
  assert.equal(second.check(1_999), undefined);
  assert.deepEqual(second.check(2_000), { action: 'kill', silentMs: 2_000 });
});

test('limit 0: never', () => {
  const { shared } = new MainPulse();
  const watch = new MainWatch(shared, 0, 0);
  assert.equal(watch.check(10 ** 9), undefined);
});

test('while a debugger is attached to main (a breakpoint stops it), no watch fires', (t) => {
  let debugging = true;
  const pulse = new MainPulse(() => debugging);
  t.after(() => pulse.stop());
  pulse.start();
  const watch = new MainWatch(pulse.shared, 1_000, 0);
  assert.equal(watch.check(10_000), undefined);
  debugging = false;
  pulse.stop();
  pulse.start(); // a beat: the flag is read again, and the counter moves
  assert.equal(watch.check(10_000), undefined, 'the counter moved');
  assert.equal(watch.check(11_000)?.action, 'write-and-kill');
});
