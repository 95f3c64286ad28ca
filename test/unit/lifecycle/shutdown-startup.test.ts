import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { ShutdownCoordinator } from '../../../src/lib/lifecycle/shutdown-coordinator.js';
import { ExitCode } from '../../../src/lib/primitives/exit-codes.js';
import { captureLogger } from '../../helpers/core.js';

/**
 * The coordinator when shutdown meets start-up: steps registered late, a start-up still
 * running, a step that fails, and a step that never settles with nothing else alive.
 */

function coordinator(stepTimeoutMs = 1_000) {
  const { log, sink } = captureLogger();
  const failed: Array<{ error: unknown; step: string }> = [];
  const c = new ShutdownCoordinator({
    log,
    escalationMs: 5_000,
    deadlineMs: 10_000,
    stepTimeoutMs,
    exit: () => assert.fail('exit called'),
    onStepFailed: (error, step) => void failed.push({ error, step: step.name }),
  });
  return { c, sink, failed };
}

test('a step registered after its phase has run is run at once, not dropped', async () => {
  const { c, sink } = coordinator();
  const ran: string[] = [];
  let release!: () => void;
  c.addStep({
    name: 'slow close',
    phase: 'close',
    run: () => new Promise<void>((resolve) => (release = resolve)),
  });
  c.requestStop('test');
  await sink.waitFor((l) => l['msg'] === 'shutdown step started' && l['step'] === 'slow close');
  await delay(1);
  c.addStep({ name: 'late intake', phase: 'stop-intake', run: () => void ran.push('late') });
  await sink.waitFor((l) => l['msg'] === 'shutdown step finished' && l['step'] === 'late intake');
  assert.deepEqual(ran, ['late'], 'run at once, while the close step still runs');
  assert.ok(
    sink.messages().includes('shutdown step registered after its phase began; running it now'),
  );
  release();
  assert.equal(await c.done, ExitCode.OK);
  // Registered after the end: run at once too (what started is stopped), with the warning.
  c.addStep({ name: 'after the end', phase: 'close', run: () => void ran.push('after') });
  await delay(10);
  assert.deepEqual(ran, ['late', 'after']);
});

test('a step registered for a phase still to come runs in its phase', async () => {
  const { c, sink } = coordinator();
  const ran: string[] = [];
  let release!: () => void;
  c.addStep({ name: 'drain', phase: 'drain', run: () => new Promise<void>((r) => (release = r)) });
  c.requestStop('test');
  await sink.waitFor((l) => l['msg'] === 'shutdown step started' && l['step'] === 'drain');
  await delay(1); // the step's run() is called on the next microtask
  c.addStep({ name: 'close', phase: 'close', run: () => void ran.push('close') });
  assert.equal(ran.length, 0);
  release();
  await c.done;
  assert.deepEqual(ran, ['close']);
});

test('the steps wait for a start-up still running, so the steps it registers run in order', async () => {
  const { c } = coordinator();
  const ran: string[] = [];
  let finishStartup!: () => void;
  c.holdStepsFor(new Promise<void>((r) => (finishStartup = r)));
  c.addStep({ name: 'early', phase: 'close', run: () => void ran.push('early') });
  c.requestStop('test');
  await delay(20);
  assert.equal(ran.length, 0, 'no step before start-up settled');
  c.addStep({ name: 'from start-up', phase: 'stop-intake', run: () => void ran.push('intake') });
  finishStartup();
  await c.done;
  assert.deepEqual(ran, ['intake', 'early']);
});

test('a start-up that does not settle is waited for one step timeout, then the steps run', async () => {
  const { c, sink } = coordinator(100);
  const ran: string[] = [];
  c.holdStepsFor(new Promise(() => {}));
  c.addStep({ name: 'close', phase: 'close', run: () => void ran.push('close') });
  const started = performance.now();
  c.requestStop('test');
  await c.done;
  assert.deepEqual(ran, ['close']);
  assert.ok(performance.now() - started >= 90);
  assert.ok(sink.messages().includes('start-up did not settle in time; running the steps anyway'));
});

test('a step that throws is passed to onStepFailed; one that times out is not', async () => {
  const { c, failed } = coordinator(50);
  const broken = new TypeError('close broke');
  c.addStep({
    name: 'throws',
    phase: 'close',
    run: () => {
      throw broken;
    },
  });
  c.addStep({ name: 'hangs', phase: 'drain', run: (signal) => once(signal) });
  c.requestStop('test');
  await c.done;
  assert.deepEqual(failed, [{ error: broken, step: 'throws' }]);
});

function once(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve()));
}

test('a step that never settles, with nothing else alive, still times out and done resolves', async () => {
  // In a child process with no other handle: before, the event loop emptied under the step
  // (exit 13, unsettled top-level await) and done never resolved.
  const coordinatorModule = new URL(
    '../../../src/lib/lifecycle/shutdown-coordinator.js',
    import.meta.url,
  ).href;
  const errorsModule = new URL('../../../src/lib/primitives/errors.js', import.meta.url).href;
  const logModule = new URL('../../../src/lib/primitives/log.js', import.meta.url).href;
  const script = `
    const { ShutdownCoordinator } = await import(${JSON.stringify(coordinatorModule)});
    const { DependencyError } = await import(${JSON.stringify(errorsModule)});
    const { createLogger } = await import(${JSON.stringify(logModule)});
    const log = createLogger({ app: 't', thread: 'main', version: 't', level: 'silent',
      destination: { write() {}, flushSync() {} } });
    const c = new ShutdownCoordinator({ log, escalationMs: 5000, deadlineMs: 10000, stepTimeoutMs: 200 });
    c.addStep({ name: 'never', phase: 'close', run: () => new Promise(() => {}) });
    c.die(new DependencyError('test', 'gone'));
    process.stdout.write(String(await c.done));
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', script],
    { timeout: 20_000 },
  );
  assert.equal(stdout, String(ExitCode.DEPENDENCY_FAILURE));
});
