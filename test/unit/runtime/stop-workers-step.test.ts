import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ShutdownCoordinator } from '../../../src/lib/lifecycle/shutdown-coordinator.js';
import { addStopWorkersStep } from '../../../src/lib/runtime/build-core.js';
import { ExitCode } from '../../../src/lib/primitives/exit-codes.js';
import { createLogger } from '../../../src/lib/primitives/log.js';
import { busyFor, echo, nannyHarness } from '../../helpers/nanny-harness.js';
import { timedOut, withTimeout } from '../../../src/lib/primitives/waits.js';
import { terminateWaitMs } from '../../../src/lib/threads/worker-host.js';

/**
 * The 'stop worker threads' step stops the workers one after another, each within the step
 * timeout. A worker that ignores its shutdown (work in hand that never ends) is terminated at
 * that timeout; the step must still stop the others before the shutdown goes on. With the
 * step timeout as the whole step's, the step timed out as the first worker was terminated,
 * and the shutdown closed, flushed and resolved its exit code with the others still running,
 * never asked to stop.
 */
/** A nanny over real threads and a coordinator with its stop-workers step; both ended after. */
function stepHarness(
  t: TestContext,
  o: { perWorkerMs: number; escalationMs: number; deadlineMs: number },
) {
  const { nanny, sink } = nannyHarness();
  const c = new ShutdownCoordinator({
    log: createLogger({
      app: 'test',
      thread: 'main',
      version: 'test',
      level: 'info',
      destination: sink,
    }),
    escalationMs: o.escalationMs,
    deadlineMs: o.deadlineMs,
    stepTimeoutMs: o.perWorkerMs,
    exit: () => assert.fail('exit called'),
  });
  t.after(async () => {
    c[Symbol.dispose]();
    await nanny.stopAll(2_000);
  });
  addStopWorkersStep(c, nanny, o.perWorkerMs);
  return { nanny, sink, c };
}

test('a worker that has to be terminated leaves the others their stop, inside the step', async (t) => {
  const { nanny, sink, c } = stepHarness(t, {
    perWorkerMs: 400,
    escalationMs: 20_000,
    deadlineMs: 30_000,
  });
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

test('cut to fit the deadline, the step terminates the workers not yet stopped, together, before the shutdown goes on', async (t) => {
  // Left to their turn, they went on stopping one by one behind the close and flush phases.
  const { nanny, sink, c } = stepHarness(t, {
    perWorkerMs: 2_000,
    escalationMs: 1_500,
    deadlineMs: 2_500,
  });
  nanny.add(echo('first')).add(echo('second')).add(echo('third'));
  await nanny.start();
  for (const name of ['first', 'second', 'third']) busyFor(nanny, name, 60_000);
  c.requestStop('SIGTERM');
  assert.equal(await c.done, ExitCode.SHUTDOWN_DEADLINE);
  // All three end within a termination's wait of the cut (a second), none left to its turn of
  // 2 s; and the two not yet asked are terminated, not asked.
  const exited = (name: string) =>
    sink.waitFor((l) => l['msg'] === 'worker exited' && l['worker'] === name);
  const all = Promise.all(['first', 'second', 'third'].map(exited));
  assert.notEqual(
    await withTimeout(all, terminateWaitMs + 500),
    timedOut,
    sink.messages().join('\n'),
  );
  const asked = sink.lines
    .filter((l) => l['msg'] === 'echo worker stopping')
    .map((l) => l['thread']);
  assert.deepEqual(asked, ['third']);
});
