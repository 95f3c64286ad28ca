import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureDrain } from '../../bench/amqp/figures.js';

/** Keeps this thread busy for `ms` of CPU (as a consumer draining events would). */
function burn(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const { user, system } = process.cpuUsage(start);
    if ((user + system) / 1000 >= ms) return;
  }
}

test('with a warm-up the figures are those of the measured messages; fromStart has all', async () => {
  // 1,000 warm-up results cost 400 ms of CPU, the 1,000 measured ones 100 ms: as a cold
  // process pays for its JIT warm-up. This process stands in for the consumer and the broker.
  let done = 0;
  const figures = await measureDrain({
    source: 'self',
    broker: process.pid,
    startedAt: performance.now(),
    warmUp: 1000,
    count: 1000,
    resultsReach: (n) => {
      burn(n === 1000 ? 400 : 100);
      done = n;
      return Promise.resolve(performance.now());
    },
  });
  assert.equal(done, 2000);
  // 100 ms over 1,000 messages: 100 µs each; /proc counts CPU in 10 ms ticks.
  assert.ok(Math.abs(figures.serviceCpuUs - 100) <= 25, `measured ${figures.serviceCpuUs} µs`);
  const fromStart = figures.fromStart;
  assert.ok(fromStart !== undefined);
  // 500 ms over 2,000 messages: 250 µs each.
  assert.ok(Math.abs(fromStart.serviceCpuUs - 250) <= 25, `from start ${fromStart.serviceCpuUs}`);
  assert.ok(fromStart.rate < figures.rate, 'the warm-up is the slow part');
});

test('without a warm-up the window runs from the start and there is no fromStart', async () => {
  const figures = await measureDrain({
    source: 'self',
    broker: process.pid,
    startedAt: performance.now(),
    warmUp: 0,
    count: 1000,
    resultsReach: (n) => {
      assert.equal(n, 1000);
      burn(200);
      return Promise.resolve(performance.now());
    },
  });
  assert.ok(Math.abs(figures.serviceCpuUs - 200) <= 25, `measured ${figures.serviceCpuUs} µs`);
  assert.equal(figures.fromStart, undefined);
});
