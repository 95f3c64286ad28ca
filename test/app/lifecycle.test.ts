import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, sampleEnv, type LogLine } from '../helpers/service-process.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/**
 * The sample app's own start and stop: its workers, its shutdown steps among the core's, and
 * its stats worker hearing of every event. (The core's lifecycle: test/process/lifecycle.)
 */

const byMsg = (msg: string) => (l: LogLine) => l.msg === msg;

test("the sample's workers start, and TERM runs its steps among the core's, in order", async (t) => {
  const service = new ServiceProcess({
    app: 'sample',
    env: sampleEnv({
      SAMPLE_WORK_MS: '600',
      SAMPLE_EVENT_INTERVAL_MS: '100',
      THREAD_REPORT_INTERVAL_MS: '100',
    }),
  });
  t.after(() => service.stop());
  const ready = await service.waitFor('ready', 20_000);
  assert.deepEqual(ready['workers'], ['processor', 'stats', 'producer']);
  await service.waitFor('event processed', 15_000);
  const termAt = service.lines.length;
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
  // The producer, stopped first, is not missing while the drain waits for the event in hand.
  const reports = service.lines.slice(termAt).filter(byMsg('thread report'));
  assert.ok(
    reports.some((l) => JSON.stringify(l['stopped']) === '["producer"]'),
    JSON.stringify(reports),
  );
  assert.deepEqual(
    reports.filter((l) => l.level !== 'info'),
    [],
    'a clean stop warns of no missing thread',
  );
  const steps = service.lines.filter(byMsg('shutdown step finished')).map((l) => l['step']);
  assert.deepEqual(steps, [
    'stop producer',
    'stop scheduled jobs',
    'drain pipeline',
    'stop worker threads',
    'close zmq sockets',
    'flush telemetry',
    'flush logs',
  ]);
  // The stats worker's last figures count every processed event, the drained ones included.
  const figures = service.lines.filter((l) => l.thread === 'stats' && l.msg === 'throughput');
  assert.equal(
    figures.at(-1)?.['total'],
    service.lines.filter((l) => l.thread === 'main' && l.msg === 'event processed').length,
  );
});

test('a worker blocked in a system call holds neither the stop of the workers after it nor the exit until the deadline', async (t) => {
  // Stop order: producer, stats, processor. terminate() cannot reach a thread in read(2), and
  // its stop awaited that termination for ever: the processor was never asked to stop, close
  // and flush ran beside it, and the process idled to the deadline (124, then SIGKILL).
  const service = new ServiceProcess({
    app: 'sample',
    env: sampleEnv({
      FAULT: 'worker-block:stats',
      SHUTDOWN_STEP_TIMEOUT_MS: '500',
      SHUTDOWN_ESCALATION_MS: '15000',
      SHUTDOWN_DEADLINE_MS: '20000',
      MAIN_STALL_LIMIT_MS: '0',
    }),
  });
  t.after(() => service.stop());
  const { code, signal } = await service.waitForExit(30_000);
  assert.equal(signal, 'SIGKILL', `exit code ${code}: ${service.tail()}`);
  const index = (match: (l: LogLine) => boolean): number => service.lines.findIndex(match);
  const processorStopped = index(
    (l) => l.msg === 'worker exited' && l['worker'] === 'processor' && l['expected'] === true,
  );
  const complete = index(byMsg('shutdown complete'));
  assert.ok(processorStopped !== -1 && processorStopped < complete, service.tail());
  assert.equal(service.lines[complete]?.['exitCode'], ExitCode.WORKER_FAILURE);
  assert.equal(index(byMsg('shutdown deadline exceeded; exiting now')), -1, service.tail());
  const last = service.lines.at(-1);
  assert.equal(last?.level, 'fatal');
  assert.deepEqual(last?.['threads'], ['stats']);
  assert.equal(last?.['exitCode'], ExitCode.WORKER_FAILURE, 'the failure it replaces');
});

test('a worker that hangs during the drain of a requested stop is still found hung: exit 71, not a clean 0', async (t) => {
  // The hang check stopped when the shutdown began: the processor hung on the event in hand,
  // the drain timed out, the thread was terminated for not stopping in time, and the stop
  // that had lost that event exited 0.
  const service = new ServiceProcess({
    app: 'sample',
    env: sampleEnv({
      FAULT: 'hang-on:alpha', // the first event's text holds it
      HEARTBEAT_MS: '2000', // found hung 3 s after it stops beating: well after the TERM
      SHUTDOWN_STEP_TIMEOUT_MS: '6000',
      LOG_LEVEL: 'debug',
    }),
  });
  t.after(() => service.stop());
  await service.waitFor('event accepted', 20_000);
  service.signal('SIGTERM');
  const { code } = await service.waitForExit(30_000);
  assert.equal(code, ExitCode.WORKER_FAILURE, service.tail());
  const started = service.lines.findIndex(byMsg('shutdown started'));
  const hung = service.lines.findIndex(
    (l) =>
      l.msg === 'failure recorded during shutdown' &&
      /worker processor is hung/.test(String((l['err'] as { message?: string }).message)),
  );
  assert.ok(started !== -1 && hung > started, service.tail());
});
