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
