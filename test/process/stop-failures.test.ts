import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ServiceProcess, type LogLine } from '../helpers/service-process.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * A failure while stopping is a failure, and the shutdown always ends through its own path:
 * fixture services (test/fixtures/stop-failures.ts), real threads, real signals.
 */

const fixture = fileURLToPath(new URL('../fixtures/stop-failures.js', import.meta.url));

function start(t: { after: (fn: () => Promise<void>) => void }, env: Record<string, string>) {
  const service = new ServiceProcess({ script: fixture, env: { LOG_PRETTY: 'false', ...env } });
  t.after(() => service.stop());
  return service;
}

/** TERM once the service is ready; resolves with its exit code. */
async function stopWhenReady(service: ServiceProcess): Promise<number | null> {
  await service.waitFor('ready');
  service.signal('SIGTERM');
  return (await service.waitForExit()).code;
}

const errorLines = (service: ServiceProcess): LogLine[] =>
  service.lines.filter((l) => l.level === 'error' || l.level === 'fatal');

test('a die() whose close step never settles, with nothing else alive, exits with the cause code', async (t) => {
  const service = start(t, { SCENARIO: 'never-settles', SHUTDOWN_STEP_TIMEOUT_MS: '300' });
  const { code } = await service.waitForExit();
  // Before the fix the event loop emptied under the step: exit 13, the step never timed out.
  assert.equal(code, ExitCode.DEPENDENCY_FAILURE, service.tail());
  const step = service.lines.find(
    (l) => l.msg === 'shutdown step finished' && l['step'] === 'never settles',
  );
  assert.equal(step?.['outcome'], 'timed-out');
  assert.ok(
    service.lines.some((l) => l.msg === 'shutdown step finished' && l['step'] === 'flush logs'),
  );
  assert.equal(service.lines.find((l) => l.msg === 'shutdown complete')?.['exitCode'], 69);
});

test('FAULT=shutdown-throw: TERM, the worker throws while it shuts down: exit 70 and an error line', async (t) => {
  const service = start(t, { SCENARIO: 'worker', FAULT: 'shutdown-throw:echo' });
  const code = await stopWhenReady(service);
  assert.equal(code, ExitCode.APPLICATION_ERROR, service.tail());
  const error = errorLines(service).find((l) => l.thread === 'echo');
  assert.equal(error?.msg, 'application error', service.tail());
  assert.equal(error['duringShutdown'], true);
  assert.match(JSON.stringify(error['err']), /FAULT=shutdown-throw:echo/);
});

test('a worker that dies during the shutdown makes the exit 71', async (t) => {
  const service = start(t, { SCENARIO: 'worker-quits' });
  const code = await stopWhenReady(service);
  assert.equal(code, ExitCode.WORKER_FAILURE, service.tail());
  const recorded = service.lines.find((l) => l.msg === 'failure recorded during shutdown');
  assert.match(JSON.stringify(recorded?.['err']), /worker quits ended unexpectedly/);
});

test("a worker's close hook that throws at shutdown is an application error: exit 70", async (t) => {
  const service = start(t, { SCENARIO: 'close-throws' });
  const code = await stopWhenReady(service);
  assert.equal(code, ExitCode.APPLICATION_ERROR, service.tail());
  const error = errorLines(service).find((l) => l.thread === 'closer');
  assert.equal(error?.['scope'], 'closer close', service.tail());
  assert.match(JSON.stringify(error['err']), /RangeError: close hook broke/);
});

test('a shutdown step that throws is an application error: logged, exit 70', async (t) => {
  const service = start(t, { SCENARIO: 'step-throws' });
  const code = await stopWhenReady(service);
  assert.equal(code, ExitCode.APPLICATION_ERROR, service.tail());
  const error = errorLines(service)[0];
  assert.equal(error?.['scope'], 'shutdown step throws');
  assert.match(JSON.stringify(error['err']), /TypeError: drain broke/);
});

test('a clean stop of a worker logs no error and exits 0', async (t) => {
  const service = start(t, { SCENARIO: 'worker', LOG_LEVEL: 'debug' });
  const code = await stopWhenReady(service);
  assert.equal(code, ExitCode.OK, service.tail());
  assert.deepEqual(errorLines(service), []);
});

test("workers that each stop within the step timeout but together not within the deadline: the step is cut, close and flush still run, 124 by the shutdown's own exit", async (t) => {
  // Stopped one by one, four workers of 1.6 s each needed 8 s of a 5 s deadline: the
  // deadline's timer ended the process in the middle of the stop-workers step, the close and
  // flush phases never ran. Now the step is cut to what the deadline leaves, the workers not
  // yet stopped are terminated together, and the rest runs.
  const deadlineMs = 5000;
  const service = start(t, {
    SCENARIO: 'slow-workers',
    SLOW_WORKERS: '4',
    SLOW_STOP_MS: '1600',
    SHUTDOWN_STEP_TIMEOUT_MS: '2000',
    SHUTDOWN_ESCALATION_MS: '4000',
    SHUTDOWN_DEADLINE_MS: String(deadlineMs),
  });
  await service.waitFor('ready');
  const termAt = performance.now();
  service.signal('SIGTERM');
  const { code } = await service.waitForExit(20_000);
  const tookMs = performance.now() - termAt;
  assert.equal(code, ExitCode.SHUTDOWN_DEADLINE, service.tail());
  assert.ok(tookMs < deadlineMs, `exited ${Math.round(tookMs)} ms after TERM`);
  const cut = service.lines.find(
    (l) => l.msg === 'shutdown step cut to what remains before the deadline',
  );
  assert.equal(cut?.['step'], 'stop worker threads', service.tail());
  assert.ok(
    service.lines.some(
      (l) =>
        l.msg ===
        'shutdown step cut short at the deadline; the rest run, and the exit says the deadline',
    ),
  );
  for (const step of ['flush telemetry', 'flush logs']) {
    const finished = service.lines.find(
      (l) => l.msg === 'shutdown step finished' && l['step'] === step,
    );
    assert.equal(finished?.['outcome'], 'ok', `${step}: ${service.tail()}`);
  }
  assert.equal(service.lines.find((l) => l.msg === 'shutdown complete')?.['exitCode'], 124);
  assert.ok(!service.lines.some((l) => l.msg === 'shutdown deadline exceeded; exiting now'));
});

test('the same workers within a deadline that holds them: no cut, exit 0', async (t) => {
  const service = start(t, {
    SCENARIO: 'slow-workers',
    SLOW_WORKERS: '2',
    SLOW_STOP_MS: '300',
    SHUTDOWN_STEP_TIMEOUT_MS: '2000',
    SHUTDOWN_ESCALATION_MS: '4000',
    SHUTDOWN_DEADLINE_MS: '5000',
  });
  assert.equal(await stopWhenReady(service), ExitCode.OK, service.tail());
  // Its budget (2 x 2 s + 1 s) is cut to what the deadline leaves, and the step ends within it.
  assert.ok(!service.lines.some((l) => l.level === 'error'), service.tail());
});

test('a worker blocked in a system call as it starts fails the start at its own timeout, named (71); the exit cannot wait for it', async (t) => {
  // Its termination at the start timeout was awaited without bound: nothing was said at the
  // worker's timeout, and start-up ran to STARTUP_TIMEOUT_MS, an application error (70) that
  // named no worker.
  const service = start(t, {
    SCENARIO: 'blocked-start',
    WORKER_START_TIMEOUT_MS: '1000',
    STARTUP_TIMEOUT_MS: '60000',
    SHUTDOWN_STEP_TIMEOUT_MS: '500',
    MAIN_STALL_LIMIT_MS: '0',
  });
  const { code, signal } = await service.waitForExit(30_000);
  assert.equal(signal, 'SIGKILL', `exit code ${code}: ${service.tail()}`);
  const started = service.lines.find((l) => l.msg === 'shutdown started');
  assert.match(
    String((started?.['err'] as { message?: string } | undefined)?.message),
    /^worker blocked did not report ready within 1000 ms$/,
    service.tail(),
  );
  const last = service.lines.at(-1);
  assert.equal(last?.level, 'fatal');
  assert.deepEqual(last?.['threads'], ['blocked']);
  assert.equal(last?.['exitCode'], ExitCode.WORKER_FAILURE);
});

test('a worker that runs out of heap as it stops died (71), as it does while running', async (t) => {
  // Node's ERR_WORKER_OUT_OF_MEMORY came as the worker's own error: while running, its closed
  // channel was heard first (71); once asked to stop, the error alone was read as a bug (70).
  const service = start(t, {
    SCENARIO: 'oom-on-stop',
    NODE_OPTIONS: '--max-old-space-size=64',
    SHUTDOWN_STEP_TIMEOUT_MS: '20000',
  });
  assert.equal(await stopWhenReady(service), ExitCode.WORKER_FAILURE, service.tail());
  const recorded = service.lines.find((l) => l.msg === 'failure recorded during shutdown');
  assert.match(JSON.stringify(recorded?.['err']), /worker leaky ran out of memory/, service.tail());
});
