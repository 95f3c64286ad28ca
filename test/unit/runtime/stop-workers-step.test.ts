import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShutdownCoordinator } from '../../../src/lib/lifecycle/shutdown-coordinator.js';
import { addStopWorkersStep } from '../../../src/lib/runtime/build-core.js';
import { ExitCode } from '../../../src/lib/primitives/exit-codes.js';
import { createLogger } from '../../../src/lib/primitives/log.js';
import { busyFor, echo, nannyHarness } from '../../helpers/nanny-harness.js';

/**
 * The 'stop worker threads' step stops the workers one after another, each within the step
 * timeout. A worker that ignores its shutdown (work in hand that never ends) is terminated at
 * that timeout; the step must still stop the others before the shutdown goes on. With the
 * step timeout as the whole step's, the step timed out as the first worker was terminated,
 * and the shutdown closed, flushed and resolved its exit code with the others still running,
 * never asked to stop.
 */
test('a worker that has to be terminated leaves the others their stop, inside the step', async (t) => {
  const { nanny, sink } = nannyHarness();
  const perWorkerMs = 400;
  const c = new ShutdownCoordinator({
    log: createLogger({
      app: 'test',
      thread: 'main',
      version: 'test',
      level: 'info',
      destination: sink,
    }),
    escalationMs: 20_000,
    deadlineMs: 30_000,
    stepTimeoutMs: perWorkerMs,
    exit: () => assert.fail('exit called'),
  });
  t.after(async () => {
    c[Symbol.dispose]();
    await nanny.stopAll(2_000);
  });
  addStopWorkersStep(c, nanny, perWorkerMs);
  // 'late' is declared last, so it is stopped first; its work in hand outlasts its stop.
  nanny.add(echo('early')).add(echo('late'));
  await nanny.start();
  busyFor(nanny, 'late', 60_000);
  c.requestStop('SIGTERM');
  assert.equal(await c.done, ExitCode.OK);
  const step = sink.lines.find(
    (l) => l['msg'] === 'shutdown step finished' && l['step'] === 'stop worker threads',
  );
  assert.equal(step?.['outcome'], 'ok', JSON.stringify(step));
  // Both were asked to stop (the late one finishes its work in hand first, and never does);
  // the early one stopped before the shutdown completed.
  const stoppedAt = (thread: string) =>
    sink.lines.findIndex((l) => l['msg'] === 'echo worker stopping' && l['thread'] === thread);
  const completedAt = sink.lines.findIndex((l) => l['msg'] === 'shutdown complete');
  assert.ok(completedAt > 0, 'shutdown complete logged');
  assert.ok(stoppedAt('late') >= 0);
  assert.ok(
    stoppedAt('early') >= 0 && stoppedAt('early') < completedAt,
    'the running worker was asked to stop, and stopped, before the shutdown completed',
  );
  assert.ok(sink.messages().includes('worker did not stop in time; terminating'));
});
