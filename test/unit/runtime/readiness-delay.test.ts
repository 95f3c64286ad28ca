import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ShutdownCoordinator } from '../../../src/lib/lifecycle/shutdown-coordinator.js';
import { addReadinessDelay } from '../../../src/lib/runtime/observability.js';
import { ExitCode } from '../../../src/lib/primitives/exit-codes.js';
import { captureLogger } from '../../helpers/core.js';

/**
 * The readiness delay (SHUTDOWN_READINESS_DELAY_MS) opens a requested stop: readiness is false
 * and intake goes on for the delay, so a load balancer stops routing first. A broken service
 * must stop taking work at once: a failure skips the delay, and one that comes during it ends
 * it (before, the delay ran out while the service took work it could not do).
 */

/** A coordinator with the delay and a step that stops intake after it, timed from now. */
function setUp(t: TestContext, delayMs = 10_000) {
  const { log, sink } = captureLogger();
  const c = new ShutdownCoordinator({
    log,
    escalationMs: 20_000,
    deadlineMs: 30_000,
    stepTimeoutMs: 1_000,
    exit: () => assert.fail('exit called'),
  });
  t.after(() => c[Symbol.dispose]());
  const intakeStopped = Promise.withResolvers<number>();
  // Registered first, so it runs after the delay (the last registered runs first), as the
  // service registers the delay once ready.
  const begun = performance.now();
  c.addStep({
    name: 'stop intake',
    phase: 'stop-intake',
    run: () => intakeStopped.resolve(performance.now() - begun),
  });
  addReadinessDelay(c, delayMs);
  return { c, sink, intakeStopped: intakeStopped.promise };
}

test('a failure during the delay ends it at once', async (t) => {
  const { c, sink, intakeStopped } = setUp(t);
  c.requestStop('SIGTERM');
  await sink.waitFor((l) => l.msg === 'shutdown step started' && l['step'] === 'readiness delay');
  c.die(new Error('a worker died'));
  const afterMs = await intakeStopped;
  assert.ok(afterMs < 2_000, `intake stopped ${Math.round(afterMs)} ms after the stop`);
  assert.equal(await c.done, ExitCode.APPLICATION_ERROR);
});

test('a failure first: no delay', async (t) => {
  const { c, intakeStopped } = setUp(t);
  c.die(new Error('broken from the start'));
  assert.ok((await intakeStopped) < 2_000);
  assert.equal(await c.done, ExitCode.APPLICATION_ERROR);
});

test('a requested stop alone waits the delay out', async (t) => {
  const { c, intakeStopped } = setUp(t, 300);
  c.requestStop('SIGTERM');
  const afterMs = await intakeStopped;
  assert.ok(afterMs >= 290, `intake stopped ${Math.round(afterMs)} ms after the stop`);
  assert.equal(await c.done, ExitCode.OK);
});
