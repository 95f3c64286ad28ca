import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MainPulse, MainWatch } from '../../../src/lib/threads/main-watchdog.js';

/** The watch's decisions, on a pulse moved by hand and clocks given explicitly. */

const everyMs = 100;

type Verdict = ReturnType<MainWatch['check']>;

/** Checks at every interval from `fromMs` (excluded) to `toMs`; the verdicts that were given. */
function ticks(
  watch: MainWatch,
  fromMs: number,
  toMs: number,
): Array<{ at: number } & NonNullable<Verdict>> {
  const verdicts: Array<{ at: number } & NonNullable<Verdict>> = [];
  for (let at = fromMs + everyMs; at <= toMs; at += everyMs) {
    const verdict = watch.check(at);
    if (verdict !== undefined) verdicts.push({ at, ...verdict });
  }
  return verdicts;
}

test('silent past the limit: the first watch writes and kills, once', () => {
  const { shared } = new MainPulse();
  const watch = new MainWatch(shared, 1_000, everyMs, 0);
  assert.deepEqual(ticks(watch, 0, 900), []);
  assert.deepEqual(ticks(watch, 900, 1_500), [
    { at: 1_000, action: 'write-and-kill', silentMs: 1_000 },
  ]);
});

test('a pulse resets the silence', () => {
  const { shared } = new MainPulse();
  const watch = new MainWatch(shared, 1_000, everyMs, 0);
  assert.deepEqual(ticks(watch, 0, 900), []);
  Atomics.add(shared, 0, 1);
  assert.deepEqual(ticks(watch, 900, 1_900), [], 'the silence began again at 1000');
  assert.equal(ticks(watch, 1_900, 2_000)[0]?.action, 'write-and-kill');
});

test("another watch leaves the line to the first, and kills past twice the limit (the first's write may hang)", () => {
  const { shared } = new MainPulse();
  const first = new MainWatch(shared, 1_000, everyMs, 0);
  const second = new MainWatch(shared, 1_000, everyMs, 0);
  assert.equal(ticks(first, 0, 1_000)[0]?.action, 'write-and-kill');
  assert.deepEqual(ticks(second, 0, 1_900), []);
  assert.deepEqual(ticks(second, 1_900, 2_000), [{ at: 2_000, action: 'kill', silentMs: 2_000 }]);
});

test('limit 0: never', () => {
  const { shared } = new MainPulse();
  assert.deepEqual(ticks(new MainWatch(shared, 0, everyMs, 0), 0, 100_000), []);
});

test('a whole process stopped and resumed (SIGSTOP, docker pause): the gap counts as one interval', () => {
  const { shared } = new MainPulse();
  const watch = new MainWatch(shared, 1_000, everyMs, 0);
  assert.deepEqual(ticks(watch, 0, 500), []);
  // Stopped for a minute: the next check comes 60 s late, and main has not had its turn yet.
  assert.equal(watch.check(60_500), undefined);
  Atomics.add(shared, 0, 1); // main's overdue pulse
  assert.deepEqual(ticks(watch, 60_500, 61_400), []);
});

test('while a debugger is attached to main (a breakpoint stops it), no watch fires', (t) => {
  let debugging = true;
  const pulse = new MainPulse(() => debugging);
  t.after(() => pulse.stop());
  pulse.start();
  const watch = new MainWatch(pulse.shared, 1_000, everyMs, 0);
  assert.deepEqual(ticks(watch, 0, 10_000), []);
  debugging = false;
  pulse.stop();
  pulse.start(); // a beat: the flag is read again, and the counter moves
  assert.deepEqual(ticks(watch, 10_000, 10_900), [], 'the counter moved');
  assert.equal(ticks(watch, 10_900, 11_100)[0]?.action, 'write-and-kill');
});
