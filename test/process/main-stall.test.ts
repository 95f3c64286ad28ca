import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceProcess, testEnv } from '../helpers/service-process.js';
import { ExitCode } from '../../src/lib/primitives/exit-codes.js';

/** FAULT=main-stall:MS on the built service: a stall of the main thread is not a hung worker. */

test('FAULT=main-stall:3000 with 1 s heartbeats kills no worker; the stall is logged as such', async (t) => {
  const service = new ServiceProcess({
    env: testEnv({ HEARTBEAT_MS: '1000', FAULT: 'main-stall:3000' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const stall = await service.waitFor('main thread stalled', 15_000);
  assert.equal(stall.level, 'warn');
  assert.ok(Number(stall['stalledMs']) >= 2_500, `stalledMs ${String(stall['stalledMs'])}`);
  // Two heartbeats with the main thread awake again: every worker still runs.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  assert.equal(service.isAlive, true, service.tail());
  assert.equal(
    service.lines.find((l) => l.msg === 'shutdown started'),
    undefined,
    service.tail(),
  );
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

test('a main thread that never wakes: a worker kills the process past MAIN_STALL_LIMIT_MS, with one fatal line', async (t) => {
  // The stall (600 s) outlasts any shutdown deadline; nothing in main can end it.
  const service = new ServiceProcess({
    env: testEnv({ FAULT: 'main-stall:600000', MAIN_STALL_LIMIT_MS: '2000' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const fatal = await service.waitFor(
    (l) => l.msg === 'main thread stalled past MAIN_STALL_LIMIT_MS; killing the process',
    20_000,
  );
  assert.equal(fatal.level, 'fatal');
  assert.notEqual(fatal.thread, 'main', 'written by a worker thread');
  assert.ok(Number(fatal['silentMs']) >= 2_000, String(fatal['silentMs']));
  assert.deepEqual(await service.waitForExit(), { code: null, signal: 'SIGKILL' });
  // One watchdog writes; the others see that it fired.
  const lines = service.lines.filter((l) => l.level === 'fatal');
  assert.equal(lines.length, 1, service.tail());
});

test('a main thread that keeps its pulse is never killed, however short the limit', async (t) => {
  // A short limit (2 s: eight of main's pulses; not the 1 s floor, which a loaded CI machine's
  // main thread may lag by); the service runs twice that and more.
  const service = new ServiceProcess({
    env: testEnv({ MAIN_STALL_LIMIT_MS: '2000', THREAD_REPORT_INTERVAL_MS: '1000' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  const reports = (): number => service.lines.filter((l) => l.msg === 'thread report').length;
  await service.waitFor(() => reports() >= 4, 15_000);
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

test('with a debugger attached (--inspect), a stalled main thread is not killed', async (t) => {
  const service = new ServiceProcess({
    env: testEnv({
      FAULT: 'main-stall:4000',
      MAIN_STALL_LIMIT_MS: '1000',
      NODE_OPTIONS: '--inspect=127.0.0.1:0',
    }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  await service.waitFor('main thread stalled', 20_000);
  assert.equal(service.isAlive, true, service.tail());
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});

test('a whole process stopped for longer than the limit (SIGSTOP, docker pause) and resumed is not killed', async (t) => {
  const service = new ServiceProcess({
    env: testEnv({ MAIN_STALL_LIMIT_MS: '2000', THREAD_REPORT_INTERVAL_MS: '500' }),
  });
  t.after(() => service.stop());
  await service.waitFor('ready');
  service.signal('SIGSTOP');
  // The pause is the fault injected: two and a half times the limit.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const reportsBefore = service.lines.filter((l) => l.msg === 'thread report').length;
  service.signal('SIGCONT');
  const reports = (): number => service.lines.filter((l) => l.msg === 'thread report').length;
  await service.waitFor(() => reports() >= reportsBefore + 4, 15_000);
  assert.equal(service.isAlive, true, service.tail());
  service.signal('SIGTERM');
  assert.equal((await service.waitForExit()).code, ExitCode.OK, service.tail());
});
